using System;
using System.Collections.Generic;
using System.Linq;

using Scim.Fast.Generators.Model;

namespace Scim.Fast.Generators;

public sealed partial class ScimSchemaGenerator
{
    /// <summary>The generated serializer's writer.</summary>
    internal static partial class Emitter
    {
        // ----- Writer -----

        private static void EmitWrite(SourceWriter w, ResourceLayout layout)
        {
            w.Line("/// <inheritdoc/>");
            w.Open($"public override void Write(ref ScimJsonWriter writer, {layout.ModelType} value, ScimProjection? projection = null)");
            w.Line("projection ??= ScimProjection.Default(ResourceType);");
            w.Line("ScimProjection.EnsureFor(projection, ResourceType);");
            w.Line("writer.WriteStartObject();");
            w.Line("writer.WriteName(\"\\\"schemas\\\":\"u8);");
            w.Line("writer.WriteStartArray();");
            w.Line($"writer.WriteRawValue({Names.Literal("\"" + layout.CoreSchema.Id + "\"")}u8);");
            foreach (var extension in layout.Extensions)
            {
                w.Open($"if (value.{extension.Property} is not null && projection.Includes({extension.Ordinal}))");
                w.Line($"writer.WriteRawValue({Names.Literal("\"" + extension.Schema.Id + "\"")}u8);");
                w.Close();
            }

            w.Line("writer.WriteEndArray();");

            // meta goes last, as in the RFC 7643 §8 examples.
            var members = layout.ResourceScope.Members;
            foreach (var member in members.Where(m => m.Spec.Name != "meta"))
            {
                EmitWriteMember(w, member);
            }

            foreach (var extension in layout.Extensions)
            {
                string local = "ext" + extension.Ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture);
                w.Open($"if (value.{extension.Property} is {{ }} {local} && projection.Includes({extension.Ordinal}))");
                w.Line($"writer.WriteName({Names.JsonNameLiteral(extension.Schema.Id)});");
                w.Line($"Write{extension.Scope.Key}Object(ref writer, {local}, projection);");
                w.Close();
            }

            foreach (var member in members.Where(m => m.Spec.Name == "meta"))
            {
                EmitWriteMember(w, member);
            }

            w.Line("writer.WriteEndObject();");
            w.Close();
            w.Line();
        }

        private static void EmitWriteObject(SourceWriter w, Scope scope)
        {
            w.Open($"private static void Write{scope.Key}Object(ref ScimJsonWriter writer, {scope.TargetType} value, ScimProjection projection)");
            w.Line("writer.WriteStartObject();");
            foreach (var member in scope.Members)
            {
                EmitWriteMember(w, member);
            }

            w.Line("writer.WriteEndObject();");
            w.Close();
            w.Line();
        }

        private static void EmitWriteMember(SourceWriter w, Member member)
        {
            var spec = member.Spec;
            string local = "v" + member.Ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture);
            string condition = spec.MultiValued
                ? $"value.{member.Property} is {{ Count: > 0 }} {local}"
                : $"value.{member.Property} is {{ }} {local}";
            w.Line($"// {member.Path}");
            w.Open($"if (projection.Includes({member.Ordinal}) && {condition})");
            w.Line($"writer.WriteName({Names.JsonNameLiteral(spec.Name)});");
            if (spec.MultiValued)
            {
                w.Line("writer.WriteStartArray();");
                w.Line("// Iterating the list's span avoids the enumerator's version checks.");
                w.Open($"foreach (var item in CollectionsMarshal.AsSpan({local}))");
                if (spec.Type == "complex")
                {
                    w.Open("if (item is not null)");
                    w.Line($"Write{member.Complex!.Key}Object(ref writer, item, projection);");
                    w.Close();
                }
                else if (IsValueType(spec))
                {
                    w.Line(WriteScalar(spec, "item"));
                }
                else
                {
                    w.Open("if (item is not null)");
                    w.Line(WriteScalar(spec, "item"));
                    w.Close();
                }

                w.Close();
                w.Line("writer.WriteEndArray();");
            }
            else if (spec.Type == "complex")
            {
                w.Line($"Write{member.Complex!.Key}Object(ref writer, {local}, projection);");
            }
            else
            {
                w.Line(WriteScalar(spec, local));
            }

            w.Close();
        }

        private static string WriteScalar(AttributeSpec spec, string expression) => spec.Type switch
        {
            "boolean" => $"writer.WriteBoolean({expression});",
            "integer" or "decimal" => $"writer.WriteNumber({expression});",
            "dateTime" => $"writer.WriteDateTime({expression});",
            _ => $"writer.WriteString({expression});",
        };
    }
}
