using System;
using System.Collections.Generic;
using System.Linq;

using Scim.Fast.Generators.Model;

namespace Scim.Fast.Generators;

public sealed partial class ScimSchemaGenerator
{
    /// <summary>The generated accessor (values by ordinal, for filters, sorting and indexes) and the schema metadata.</summary>
    internal static partial class Emitter
    {
        // ----- Accessor: values by ordinal, for filters, sorting and indexes -----

        private static string EmitAccessor(string ns, ResourceLayout layout)
        {
            string name = Names.TypeName(layout.ResourceType.Name) + "Accessor";
            var entries = AccessorEntries(layout);

            var w = new SourceWriter();
            w.Line(Header);
            w.Line("using Scim.Fast.Core.Query;");
            w.Line("using Scim.Fast.Core.Schema;");
            w.Line();
            w.Line($"namespace {ns};");
            w.Line();
            w.Line($"/// <summary>Reads <c>{Names.Xml(layout.ResourceType.Name)}</c> attribute values by ordinal (see <see cref=\"ScimResourceAccessor{{TResource}}\"/>).</summary>");
            w.Open($"public sealed partial class {name} : ScimResourceAccessor<{layout.ModelType}>");
            w.Line("/// <summary>The one instance; the accessor holds no state.</summary>");
            w.Line($"public static {name} Instance {{ get; }} = new();");
            w.Line();
            w.Line($"public override ScimResourceType ResourceType => ScimResourceTypes.{Names.TypeName(layout.ResourceType.Name)};");
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open($"public override int Count({layout.ModelType} resource, int ordinal) => ordinal switch");
            foreach (var (member, count, _) in entries)
            {
                w.Line($"{member.Ordinal} => {count}, // {member.Path}");
            }

            w.Line("_ => 0,");
            w.Close("};");
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open($"public override ScimValue Get({layout.ModelType} resource, int ordinal, int index) => ordinal switch");
            foreach (var (member, _, get) in entries)
            {
                w.Line($"{member.Ordinal} => {get}, // {member.Path}");
            }

            w.Line("_ => ScimValue.Null,");
            w.Close("};");
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Open($"public override void RemoveValues({layout.ModelType} resource, int ordinal, System.ReadOnlySpan<bool> remove)");
            w.Open("switch (ordinal)");
            foreach (var (member, list) in MultiValuedLists(layout))
            {
                w.Line($"case {member.Ordinal}: RemoveMarked({list}, remove); break; // {member.Path}");
            }

            w.Close();
            w.Close();
            w.Line();
            w.Line("// Value number index of \"schemas\": the core URN, then each extension present, in order.");
            w.Open($"private static ScimValue GetSchema({layout.ModelType} resource, int index)");
            w.Open("if (index == 0)");
            w.Line($"return ScimValue.From({Names.Literal(layout.CoreSchema.Id)});");
            w.Close();
            w.Line();
            if (layout.Extensions.Count > 0)
            {
                w.Line("int present = 0;");
            }

            foreach (var extension in layout.Extensions)
            {
                w.Open($"if (resource.{extension.Property} is not null && ++present == index)");
                w.Line($"return ScimValue.From({Names.Literal(extension.Schema.Id)});");
                w.Close();
                w.Line();
            }

            w.Line("return ScimValue.Null;");
            w.Close();
            w.Close();
            return w.ToString();
        }

        // Per ordinal: the expressions counting the values of `resource` and getting value `index`.
        private static List<(Member Member, string Count, string Get)> AccessorEntries(ResourceLayout layout)
        {
            var entries = new List<(Member Member, string Count, string Get)>();
            foreach (var member in layout.ResourceScope.Members)
            {
                AddAccessorEntries(entries, member, "resource." + member.Property);
            }

            foreach (var extension in layout.Extensions)
            {
                foreach (var member in extension.Scope.Members)
                {
                    AddAccessorEntries(entries, member, $"resource.{extension.Property}?.{member.Property}");
                }
            }

            string countSchemas = "1" + string.Concat(layout.Extensions.Select(e => $" + (resource.{e.Property} is null ? 0 : 1)"));
            entries.Add((new Member(SchemasSpec(), layout.SchemasOrdinal, "Schemas", "schemas", null), countSchemas, "GetSchema(resource, index)"));
            return entries;
        }

        // Every multi-valued attribute (not sub-attribute) with the expression of its list.
        private static IEnumerable<(Member Member, string List)> MultiValuedLists(ResourceLayout layout)
        {
            foreach (var member in layout.ResourceScope.Members)
            {
                if (member.Spec.MultiValued)
                {
                    yield return (member, "resource." + member.Property);
                }
            }

            foreach (var extension in layout.Extensions)
            {
                foreach (var member in extension.Scope.Members)
                {
                    if (member.Spec.MultiValued)
                    {
                        yield return (member, $"resource.{extension.Property}?.{member.Property}");
                    }
                }
            }
        }

        private static void AddAccessorEntries(List<(Member, string, string)> entries, Member member, string expression)
        {
            var spec = member.Spec;
            if (spec.Type != "complex")
            {
                entries.Add(spec.MultiValued
                    ? (member, $"{expression}?.Count ?? 0", $"ScimValue.From({expression}![index])")
                    : (member, $"{expression} is null ? 0 : 1", $"ScimValue.From({expression})"));
                return;
            }

            if (spec.MultiValued)
            {
                entries.Add((member, $"{expression}?.Count ?? 0", $"ScimValue.FromComplex({expression}![index])"));
                foreach (var sub in member.Complex!.Members)
                {
                    // One value per element of the parent; a multi-valued sub-attribute is not addressable.
                    entries.Add(sub.Spec.MultiValued
                        ? (sub, "0", "ScimValue.Null")
                        : (sub, $"{expression}?.Count ?? 0", $"ScimValue.From({expression}![index].{sub.Property})"));
                }

                return;
            }

            entries.Add((member, $"{expression} is null ? 0 : 1", $"ScimValue.FromComplex({expression})"));
            foreach (var sub in member.Complex!.Members)
            {
                entries.Add(sub.Spec.MultiValued
                    ? (sub, "0", "ScimValue.Null")
                    : (sub, $"{expression}?.{sub.Property} is null ? 0 : 1", $"ScimValue.From({expression}?.{sub.Property})"));
            }
        }

        // ----- Schema tables -----

        private static void EmitMetadata(SourceWriter w, ResourceLayout layout)
        {
            var resourceType = layout.ResourceType;
            w.Line("/// <summary>The schema tables of this resource type, generated from the same JSON as the code above.</summary>");
            w.Line("internal static ScimResourceType CreateResourceType() => new(");
            w.Indent();
            w.Line($"id: {Names.Literal(resourceType.Id)},");
            w.Line($"name: {Names.Literal(resourceType.Name)},");
            w.Line($"endpoint: {Names.Literal(resourceType.Endpoint)},");
            w.Line($"description: {Names.Literal(resourceType.Description)},");
            w.Line("commonAttributes:");
            w.Open("[");
            foreach (var member in layout.ResourceScope.Members.Take(layout.CommonAttributes.Count))
            {
                EmitAttribute(w, member);
            }

            EmitAttribute(w, new Member(SchemasSpec(), layout.SchemasOrdinal, "Schemas", "schemas", null));
            w.Close("],");
            w.Line($"schema: {SchemaExpression(layout.CoreSchema)}");
            EmitAttributeArray(w, layout.ResourceScope.Members.Skip(layout.CommonAttributes.Count), "),");
            w.Line("extensions:");
            w.Open("[");
            foreach (var extension in layout.Extensions)
            {
                w.Line($"new ScimSchemaExtension(");
                w.Line($"    {SchemaExpression(extension.Schema)}");
                EmitAttributeArray(w, extension.Scope.Members, "),");
                w.Line($"    required: {Bool(extension.Required)},");
                w.Line($"    ordinal: {extension.Ordinal}),");
            }

            w.Close("],");
            w.Line($"ordinalCount: {layout.OrdinalCount});");
            w.Unindent();
        }

        private static string SchemaExpression(SchemaSpec schema) =>
            $"new ScimSchema({Names.Literal(schema.Id)}, {Names.Literal(schema.Name)}, {Names.Literal(schema.Description)},";

        private static void EmitAttributeArray(SourceWriter w, IEnumerable<Member> members, string terminator)
        {
            w.Open("[");
            foreach (var member in members)
            {
                EmitAttribute(w, member);
            }

            w.Close("]" + terminator);
        }

        private static void EmitAttribute(SourceWriter w, Member member)
        {
            var spec = member.Spec;
            w.Line("new ScimAttribute(");
            w.Indent();
            w.Line($"ordinal: {member.Ordinal},");
            w.Line($"name: {Names.Literal(spec.Name)},");
            w.Line($"type: ScimAttributeType.{Names.TypeName(spec.Type)},");
            w.Line($"multiValued: {Bool(spec.MultiValued)},");
            w.Line($"description: {Names.Literal(spec.Description)},");
            w.Line($"required: {Bool(spec.Required)},");
            w.Line($"caseExact: {Bool(spec.CaseExact)},");
            w.Line($"mutability: ScimMutability.{Names.TypeName(spec.Mutability)},");
            w.Line($"returned: ScimReturned.{Names.TypeName(spec.Returned)},");
            w.Line($"uniqueness: ScimUniqueness.{Names.TypeName(spec.Uniqueness)},");
            w.Line($"canonicalValues: [{string.Join(", ", spec.CanonicalValues.Select(Names.Literal))}],");
            w.Line($"referenceTypes: [{string.Join(", ", spec.ReferenceTypes.Select(Names.Literal))}],");
            if (member.Complex is null)
            {
                w.Line("subAttributes: []),");
            }
            else
            {
                w.Line("subAttributes:");
                EmitAttributeArray(w, member.Complex.Members, "),");
            }

            w.Unindent();
        }

        private static string Bool(bool value) => value ? "true" : "false";
    }
}
