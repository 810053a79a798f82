using System;
using System.Collections.Generic;
using System.Linq;

using Scim.Fast.Generators.Model;

namespace Scim.Fast.Generators;

public sealed partial class ScimSchemaGenerator
{
    /// <summary>The generated serializer: its reader (TryRead, per-scope readers, matching, value readers).</summary>
    internal static partial class Emitter
    {
        // ----- Serializer -----

        private static string EmitSerializer(string ns, ResourceLayout layout)
        {
            var w = new SourceWriter();
            w.Line(Header);
            w.Line("using System;");
            w.Line("using System.Buffers;");
            w.Line("using System.Collections.Generic;");
            w.Line("using System.Diagnostics.CodeAnalysis;");
            w.Line("using System.Runtime.InteropServices;");
            w.Line("using System.Text.Json;");
            w.Line();
            w.Line("using Scim.Fast.Core.Errors;");
            w.Line("using Scim.Fast.Core.Schema;");
            w.Line("using Scim.Fast.Core.Serialization;");
            w.Line();
            w.Line($"namespace {ns};");
            w.Line();
            w.Line($"/// <summary>UTF-8 JSON reader and writer of the <c>{Names.Xml(layout.ResourceType.Name)}</c> resource type.</summary>");
            w.Open($"public sealed partial class {layout.SerializerName} : ScimResourceSerializer<{layout.ModelType}>");
            w.Line($"private const string CoreSchemaUrn = {Names.Literal(layout.CoreSchema.Id)};");
            w.Line();
            w.Line("/// <summary>The one instance; the serializer holds no state.</summary>");
            w.Line($"public static {layout.SerializerName} Instance {{ get; }} = new();");
            w.Line();
            w.Line($"public override ScimResourceType ResourceType => ScimResourceTypes.{Names.TypeName(layout.ResourceType.Name)};");
            w.Line();
            w.Line($"public override global::Scim.Fast.Core.Patch.ScimResourceEditor<{layout.ModelType}> Editor => {Names.TypeName(layout.ResourceType.Name)}Editor.Instance;");
            w.Line();
            var known = layout.AllScopes().SelectMany(s => s.Members).Where(HasKnownValues).ToList();
            if (known.Count > 0)
            {
                w.Line("// canonicalValues (RFC 7643 §7): read as shared instances when a client sends exactly one of them.");
                foreach (var member in known)
                {
                    w.Line($"private static readonly string[] s_known{member.Ordinal} = [{string.Join(", ", member.Spec.CanonicalValues.Select(Names.Literal))}];");
                }

                w.Line();
            }
            EmitTryRead(w, layout);
            EmitReadResource(w, layout);
            EmitReadSchemas(w, layout);
            foreach (var extension in layout.Extensions)
            {
                EmitReadExtensionBlock(w, layout, extension);
            }

            foreach (var scope in layout.AllScopes())
            {
                if (scope != layout.ResourceScope)
                {
                    EmitReadObject(w, scope);
                }

                EmitMatch(w, scope);
                EmitIsReadOnly(w, scope);
                EmitReadAttribute(w, scope);
            }

            EmitWrite(w, layout);
            foreach (var scope in layout.AllScopes().Where(s => s != layout.ResourceScope))
            {
                EmitWriteObject(w, scope);
            }

            EmitMetadata(w, layout);
            w.Close();
            return w.ToString();
        }

        private static void EmitTryRead(SourceWriter w, ResourceLayout layout)
        {
            w.Line("/// <inheritdoc/>");
            w.Open($"public override bool TryRead(ReadOnlySequence<byte> utf8Json, ScimReadOptions options, [NotNullWhen(true)] out {layout.ModelType}? resource, [NotNullWhen(false)] out ScimError? error)");
            w.Line("var reader = new Utf8JsonReader(utf8Json, ScimJsonRead.ReaderOptions(options));");
            w.Line("resource = null;");
            w.Open("try");
            w.Open("if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)");
            w.Line("error = ScimJsonRead.NotAnObject();");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Line($"var target = new {layout.ModelType}();");
            w.Line("bool sawCoreSchema = false;");
            w.Line("// Members still to read before a reader of trusted input may stop (-1: read to the end).");
            w.Line("int remaining = options.StopWhenRead && options.Only is { TopLevelCount: > 0 } wanted ? wanted.TopLevelCount : -1;");
            w.Open("if (!ReadResource(ref reader, target, options, ref sawCoreSchema, ref remaining, out error))");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Open("if (remaining == 0)");
            w.Line("resource = target;");
            w.Line("return true;");
            w.Close();
            w.Line();
            w.Line("// Utf8JsonReader rejects a second top-level value, so this only confirms the end of input.");
            w.Open("if (reader.Read())");
            w.Line("error = ScimJsonRead.TrailingContent();");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Open("if (options.RequireSchemas && !sawCoreSchema)");
            w.Line("error = ScimJsonRead.MissingCoreSchema(CoreSchemaUrn);");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Line("resource = target;");
            w.Line("return true;");
            w.Close();
            w.Line("catch (JsonException exception)");
            w.Open();
            w.Line("error = ScimJsonRead.MalformedJson(exception);");
            w.Line("return false;");
            w.Close();
            w.Line("catch (InvalidOperationException exception)");
            w.Open();
            w.Line("// Invalid UTF-8 inside a string surfaces when the string is transcoded.");
            w.Line("error = ScimJsonRead.MalformedJson(exception);");
            w.Line("return false;");
            w.Close();
            w.Close();
            w.Line();
        }

        private static void EmitReadResource(SourceWriter w, ResourceLayout layout)
        {
            var scope = layout.ResourceScope;
            w.Open($"private static bool ReadResource(ref Utf8JsonReader reader, {layout.ModelType} target, ScimReadOptions options, ref bool sawCoreSchema, ref int remaining, [NotNullWhen(false)] out ScimError? error)");
            w.Open("while (reader.Read())");
            w.Open("if (reader.TokenType == JsonTokenType.EndObject)");
            w.Line("error = null;");
            w.Line("return true;");
            w.Close();
            w.Line();
            w.Line("var name = ScimJsonRead.GetUtf8(ref reader);");
            w.Line("int index = MatchResource(name);");
            w.Open("if (index == -1 && ScimJsonRead.IsUrn(name))");
            w.Open("if (global::System.Text.Ascii.EqualsIgnoreCase(name, " + Names.Literal(layout.CoreSchema.Id) + "u8))");
            w.Line("// Core attributes nested under the core schema URN: read them into the same resource.");
            w.Line("reader.Read();");
            w.Open("if (reader.TokenType != JsonTokenType.StartObject)");
            w.Line("error = ScimJsonRead.WrongType(CoreSchemaUrn, \"an object\");");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Open("if (!ReadResource(ref reader, target, options, ref sawCoreSchema, ref remaining, out error))");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Open("if (remaining == 0)");
            w.Line("return true;");
            w.Close();
            w.Line();
            w.Line("continue;");
            w.Close();
            w.Line();
            foreach (var extension in layout.Extensions)
            {
                w.Open("if (global::System.Text.Ascii.EqualsIgnoreCase(name, " + Names.Literal(extension.Schema.Id) + "u8))");
                w.Line("reader.Read();");
                w.Open($"if (options.Only is {{ }} onlyBlock && !onlyBlock.Includes({extension.Ordinal}))");
                w.Line("reader.Skip();");
                w.Line("continue;");
                w.Close();
                w.Line();
                w.Open($"if (!Read{extension.Scope.Key}Block(ref reader, target, options, out error))");
                w.Line("return false;");
                w.Close();
                w.Line();
                w.Open("if (--remaining == 0)");
                w.Line("return true;");
                w.Close();
                w.Line();
                w.Line("continue;");
                w.Close();
                w.Line();
            }

            w.Line("// Fully qualified names: \"urn:…:User:userName\" (RFC 7643 §3.3, RFC 7644 §3.10). Longest URN");
            w.Line("// first, so an extension whose URN extends the core URN is not taken for a core attribute.");
            bool first = true;
            foreach (var extension in layout.Extensions.OrderByDescending(e => e.Schema.Id.Length))
            {
                string key = extension.Scope.Key;
                string local = "ext" + extension.Ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture);
                w.Line($"{(first ? "if" : "else if")} (ScimJsonRead.TryStripUrn(name, {Names.Literal(extension.Schema.Id)}u8, out var {local}Name))");
                first = false;
                w.Open();
                w.Line($"int {local}Index = Match{key}({local}Name);");
                w.Open($"if ({local}Index >= 0)");
                w.Line("reader.Read();");
                w.Open($"if ((options.IgnoreReadOnly && IsReadOnly{key}({local}Index)) || (options.Only is {{ }} only{local} && !only{local}.Includes(s_ordinals{key}[{local}Index])))");
                w.Line("reader.Skip();");
                w.Line("continue;");
                w.Close();
                w.Line();
                w.Open($"if (!Read{key}Attribute(ref reader, {local}Index, target.{extension.Property} ??= new {Names.TypeName(extension.Schema.Name)}(), options, out error))");
                w.Line("return false;");
                w.Close();
                w.Line();
                w.Line("continue;");
                w.Close();
                w.Close();
            }

            w.Line($"{(first ? "if" : "else if")} (ScimJsonRead.TryStripUrn(name, " + Names.Literal(layout.CoreSchema.Id) + "u8, out var coreName))");
            w.Open();
            w.Line("index = Math.Max(MatchResource(coreName), -1);");
            w.Close();

            w.Close();
            w.Line();
            w.Open("if (index == -1 && options.RejectUnknownAttributes)");
            w.Line("error = ScimJsonRead.UnknownAttribute(ScimJsonRead.NameForError(name));");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Line("reader.Read();");
            w.Open("if (index == -2)");
            w.Open("if (!ReadSchemas(ref reader, options, ref sawCoreSchema, out error))");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Line("continue;");
            w.Close();
            w.Line();
            w.Open($"if (index < 0 || (options.IgnoreReadOnly && IsReadOnly{scope.Key}(index)) || (options.Only is {{ }} only && !only.Includes(s_ordinals{scope.Key}[index])))");
            w.Line("reader.Skip();");
            w.Line("continue;");
            w.Close();
            w.Line();
            w.Open($"if (!Read{scope.Key}Attribute(ref reader, index, target, options, out error))");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Open("if (--remaining == 0)");
            w.Line("return true;");
            w.Close();
            w.Close();
            w.Line();
            w.Line("error = ScimJsonRead.Truncated();");
            w.Line("return false;");
            w.Close();
            w.Line();
        }

        private static void EmitReadSchemas(SourceWriter w, ResourceLayout layout)
        {
            w.Line("// \"schemas\" names the core schema and the extensions used (RFC 7643 §3).");
            w.Open("private static bool ReadSchemas(ref Utf8JsonReader reader, ScimReadOptions options, ref bool sawCoreSchema, [NotNullWhen(false)] out ScimError? error)");
            w.Open("if (reader.TokenType != JsonTokenType.StartArray)");
            w.Line("error = ScimJsonRead.WrongType(\"schemas\", \"an array of schema URNs\");");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Open("while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)");
            w.Open("if (reader.TokenType != JsonTokenType.String)");
            w.Line("error = ScimJsonRead.WrongType(\"schemas\", \"an array of schema URNs\");");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Line("var urn = ScimJsonRead.GetUtf8(ref reader);");
            w.Open("if (global::System.Text.Ascii.EqualsIgnoreCase(urn, " + Names.Literal(layout.CoreSchema.Id) + "u8))");
            w.Line("sawCoreSchema = true;");
            w.Line("continue;");
            w.Close();
            w.Line();
            foreach (var extension in layout.Extensions)
            {
                w.Open("if (global::System.Text.Ascii.EqualsIgnoreCase(urn, " + Names.Literal(extension.Schema.Id) + "u8))");
                w.Line("continue;");
                w.Close();
                w.Line();
            }

            w.Open("if (options.RejectUnknownAttributes)");
            w.Line("error = ScimJsonRead.UnknownSchema(ScimJsonRead.NameForError(urn));");
            w.Line("return false;");
            w.Close();
            w.Close();
            w.Line();
            w.Line("error = null;");
            w.Line("return true;");
            w.Close();
            w.Line();
        }

        private static void EmitReadExtensionBlock(SourceWriter w, ResourceLayout layout, ExtensionLayout extension)
        {
            string type = Names.TypeName(extension.Schema.Name);
            w.Open($"private static bool Read{extension.Scope.Key}Block(ref Utf8JsonReader reader, {layout.ModelType} target, ScimReadOptions options, [NotNullWhen(false)] out ScimError? error)");
            w.Open("if (reader.TokenType == JsonTokenType.Null)");
            w.Line($"target.{extension.Property} = null;");
            w.Line("error = null;");
            w.Line("return true;");
            w.Close();
            w.Line();
            w.Open("if (reader.TokenType != JsonTokenType.StartObject)");
            w.Line($"error = ScimJsonRead.WrongType({Names.Literal(extension.Schema.Id)}, \"an object\");");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Line($"var extension = target.{extension.Property} ?? new {type}();");
            w.Open($"if (!Read{extension.Scope.Key}Object(ref reader, extension, options, out error))");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Line($"target.{extension.Property} = extension;");
            w.Line("return true;");
            w.Close();
            w.Line();
        }

        private static void EmitReadObject(SourceWriter w, Scope scope)
        {
            w.Open($"private static bool Read{scope.Key}Object(ref Utf8JsonReader reader, {scope.TargetType} target, ScimReadOptions options, [NotNullWhen(false)] out ScimError? error)");
            w.Open("while (reader.Read())");
            w.Open("if (reader.TokenType == JsonTokenType.EndObject)");
            w.Line("error = null;");
            w.Line("return true;");
            w.Close();
            w.Line();
            w.Line("var name = ScimJsonRead.GetUtf8(ref reader);");
            w.Line($"int index = Match{scope.Key}(name);");
            w.Open("if (index < 0 && options.RejectUnknownAttributes)");
            w.Line($"error = ScimJsonRead.UnknownAttribute({Names.Literal(scope.PathPrefix)} + ScimJsonRead.NameForError(name));");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Line("reader.Read();");
            w.Open($"if (index < 0 || (options.IgnoreReadOnly && IsReadOnly{scope.Key}(index)) || (options.Only is {{ }} only && !only.Includes(s_ordinals{scope.Key}[index])))");
            w.Line("reader.Skip();");
            w.Line("continue;");
            w.Close();
            w.Line();
            w.Open($"if (!Read{scope.Key}Attribute(ref reader, index, target, options, out error))");
            w.Line("return false;");
            w.Close();
            w.Close();
            w.Line();
            w.Line("error = ScimJsonRead.Truncated();");
            w.Line("return false;");
            w.Close();
            w.Line();
        }

        private static void EmitMatch(SourceWriter w, Scope scope)
        {
            bool isResource = scope.Key == "Resource";
            w.Line($"// Attribute names are case-insensitive (RFC 7643 §2.1): dispatch on length, then compare ignoring ASCII case.{(isResource ? " -2 is \"schemas\"." : "")}");
            w.Open($"private static int Match{scope.Key}(ReadOnlySpan<byte> name)");
            var candidates = scope.Members.Select((m, i) => (Name: m.Spec.Name, Index: i)).ToList();
            if (isResource)
            {
                candidates.Add(("schemas", -2));
            }

            w.Open("switch (name.Length)");
            foreach (var group in candidates.GroupBy(c => System.Text.Encoding.UTF8.GetByteCount(c.Name)).OrderBy(g => g.Key))
            {
                w.Line($"case {group.Key}:");
                w.Indent();
                foreach (var (name, index) in group)
                {
                    w.Open($"if (global::System.Text.Ascii.EqualsIgnoreCase(name, {Names.Literal(name)}u8))");
                    w.Line($"return {index};");
                    w.Close();
                    w.Line();
                }

                w.Line("break;");
                w.Unindent();
            }

            w.Close();
            w.Line();
            w.Line("return -1;");
            w.Close();
            w.Line();
        }

        private static void EmitIsReadOnly(SourceWriter w, Scope scope)
        {
            w.Line("// Each attribute's ordinal (ScimReadOptions.Only skips the ones its projection leaves out).");
            w.Line($"private static readonly int[] s_ordinals{scope.Key} = [{string.Join(", ", scope.Members.Select(m => m.Ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture)))}];");
            w.Line();
            var readOnly = scope.Members.Select((m, i) => (m, i)).Where(x => x.m.Spec.Mutability == "readOnly").Select(x => x.i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
            w.Line("// readOnly attributes are ignored on input (RFC 7643 §2.2).");
            w.Line($"private static bool IsReadOnly{scope.Key}(int index) => {(readOnly.Count == 0 ? "false" : "index is " + string.Join(" or ", readOnly))};");
            w.Line();
        }

        private static void EmitReadAttribute(SourceWriter w, Scope scope)
        {
            w.Open($"private static bool Read{scope.Key}Attribute(ref Utf8JsonReader reader, int index, {scope.TargetType} target, ScimReadOptions options, [NotNullWhen(false)] out ScimError? error)");
            w.Line("error = null;");
            w.Open("switch (index)");
            for (int i = 0; i < scope.Members.Count; i++)
            {
                var member = scope.Members[i];
                w.Line($"case {i}: // {member.Path}");
                w.Open();
                EmitReadValue(w, member);
                w.Close();
            }

            w.Close();
            w.Line();
            w.Line("return true;");
            w.Close();
            w.Line();
        }

        private static void EmitReadValue(SourceWriter w, Member member)
        {
            var spec = member.Spec;
            string path = Names.Literal(member.Path);
            if (spec.Type == "complex")
            {
                string type = member.Complex!.TargetType;
                string read = $"Read{member.Complex.Key}Object";
                w.Open("if (reader.TokenType == JsonTokenType.Null)");
                w.Line($"target.{member.Property} = null;");
                w.Line("return true;");
                w.Close();
                w.Line();
                if (spec.MultiValued)
                {
                    w.Open("if (reader.TokenType != JsonTokenType.StartArray)");
                    w.Line($"error = ScimJsonRead.WrongType({path}, \"an array of objects\");");
                    w.Line("return false;");
                    w.Close();
                    w.Line();
                    w.Line($"List<{type}>? list = null;");
                    w.Open("while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)");
                    w.Open("if (reader.TokenType == JsonTokenType.Null)");
                    w.Line("continue;");
                    w.Close();
                    w.Line();
                    w.Open("if (reader.TokenType != JsonTokenType.StartObject)");
                    w.Line($"error = ScimJsonRead.WrongType({path}, \"an array of objects\");");
                    w.Line("return false;");
                    w.Close();
                    w.Line();
                    w.Line($"var item = new {type}();");
                    w.Open($"if (!{read}(ref reader, item, options, out error))");
                    w.Line("return false;");
                    w.Close();
                    w.Line();
                    w.Line($"(list ??= new List<{type}>()).Add(item);");
                    w.Close();
                    w.Line();
                    w.Line("// An empty array means unassigned, like null (RFC 7643 §2.5).");
                    w.Line($"target.{member.Property} = list;");
                    w.Line("return true;");
                    return;
                }

                w.Open("if (reader.TokenType == JsonTokenType.StartObject)");
                w.Line($"var value = new {type}();");
                w.Open($"if (!{read}(ref reader, value, options, out error))");
                w.Line("return false;");
                w.Close();
                w.Line();
                w.Line($"target.{member.Property} = value;");
                w.Line("return true;");
                w.Close();
                w.Line();
                var valueMember = member.Complex.Members.FirstOrDefault(m => m.Spec.Name == "value" && m.Spec.Type is "string" or "reference" && !m.Spec.MultiValued);
                if (valueMember is not null)
                {
                    w.Line("// A bare string stands for the \"value\" sub-attribute (Entra ID sends manager this way).");
                    w.Open("if (reader.TokenType == JsonTokenType.String)");
                    w.Line($"target.{member.Property} = new {type} {{ {valueMember.Property} = reader.GetString() }};");
                    w.Line("return true;");
                    w.Close();
                    w.Line();
                }

                w.Line($"error = ScimJsonRead.WrongType({path}, \"an object\");");
                w.Line("return false;");
                return;
            }

            var (reader, expected) = ValueReader(spec);
            if (!spec.MultiValued)
            {
                string knownArgument = HasKnownValues(member) ? $"s_known{member.Ordinal}, " : "";
                w.Open($"if (!ScimJsonRead.{reader}(ref reader, {knownArgument}out var value))");
                w.Line($"error = ScimJsonRead.WrongType({path}, \"{expected}\");");
                w.Line("return false;");
                w.Close();
                w.Line();
                w.Line($"target.{member.Property} = value;");
                w.Line("return true;");
                return;
            }

            string element = ElementType(spec);
            w.Open("if (reader.TokenType == JsonTokenType.Null)");
            w.Line($"target.{member.Property} = null;");
            w.Line("return true;");
            w.Close();
            w.Line();
            w.Open("if (reader.TokenType != JsonTokenType.StartArray)");
            w.Line($"error = ScimJsonRead.WrongType({path}, \"an array\");");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Line($"List<{element}>? list = null;");
            w.Open("while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)");
            w.Open($"if (!ScimJsonRead.{reader}(ref reader, out var item))");
            w.Line($"error = ScimJsonRead.WrongType({path}, \"an array of {expected.Substring(expected.IndexOf(' ') + 1)} values\");");
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Open("if (item is not null)");
            w.Line($"(list ??= new List<{element}>()).Add(item{(IsValueType(spec) ? ".Value" : "")});");
            w.Close();
            w.Close();
            w.Line();
            w.Line($"target.{member.Property} = list;");
            w.Line("return true;");
        }

        private static bool HasKnownValues(Member member) =>
            member.Spec.Type == "string" && !member.Spec.MultiValued && member.Spec.CanonicalValues.Count > 0;

        private static (string Reader, string Expected) ValueReader(AttributeSpec spec) => spec.Type switch
        {
            "boolean" => ("TryReadBoolean", "a boolean"),
            "integer" => ("TryReadInteger", "an integer"),
            "decimal" => ("TryReadDecimal", "a decimal number"),
            "dateTime" => ("TryReadDateTime", "an xsd:dateTime string"),
            "binary" => ("TryReadBinary", "a base64 string"),
            "reference" => ("TryReadString", "a reference string"),
            _ => ("TryReadString", "a string"),
        };
    }
}
