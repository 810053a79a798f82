using System;
using System.Collections.Generic;
using System.Linq;

using Scim.Fast.Generators.Json;
using Scim.Fast.Generators.Model;

namespace Scim.Fast.Generators;

public sealed partial class ScimSchemaGenerator
{
    /// <summary>
    /// The index catalogue (DESIGN-NOTES §8): one document per resource type, next to the schemas,
    /// declaring every index the store keeps. Checked here against the schemas so a mistake is a
    /// compile error naming the file and line, never an index silently missing at run time.
    /// </summary>
    internal static partial class Parser
    {
        private static readonly string[] s_indexKinds = ["unique", "lookup", "ordered", "membership"];
        private static readonly string[] s_indexOperators = ["eq", "sw", "gt", "ge", "lt", "le"];

        // The store numbers ordered indexes 0–127 and lookups 128–254 (part of its stored keys).
        private const int FirstLookupNumber = 128;
        private const int LastLookupNumber = 254;

        private static IndexCatalogueSpec? ParseCatalogue(FileContext context, JsonObject obj)
        {
            string? resourceType = context.RequireString(obj, "resourceType", "Index catalogue");
            if (resourceType is null)
            {
                return null;
            }

            var indexes = new List<IndexSpec>();
            var member = obj.Find("indexes");
            if (member is null)
            {
                context.Report(DiagnosticDescriptors.MissingMember.Id, obj.Start, 1, "Index catalogue", "indexes");
                return null;
            }

            if (member.Value is not JsonArray array)
            {
                context.Report(DiagnosticDescriptors.InvalidIndex.Id, member.Value.Start, 1, "(catalogue)", resourceType, "'indexes' must be an array of index objects");
                return null;
            }

            foreach (var item in array.Items)
            {
                if (item is not JsonObject index)
                {
                    context.Report(DiagnosticDescriptors.InvalidIndex.Id, item.Start, 1, "(catalogue)", resourceType, "each index is a JSON object");
                    continue;
                }

                if (ParseIndex(context, index, resourceType) is { } spec)
                {
                    indexes.Add(spec);
                }
            }

            return new IndexCatalogueSpec(resourceType, indexes.ToEquatableArray(), context.Location(obj.Start, 1));
        }

        private static IndexSpec? ParseIndex(FileContext context, JsonObject obj, string resourceType)
        {
            string? name = context.RequireString(obj, "name", "An index");
            string? attribute = context.RequireString(obj, "attribute", "An index");
            if (name is null || attribute is null)
            {
                return null;
            }

            void Invalid(int at, string message) => context.Report(DiagnosticDescriptors.InvalidIndex.Id, at, 1, name, resourceType, message);

            if (!Names.IsAttributeName(name) || Names.TypeName(name).Length == 0)
            {
                Invalid(obj.Find("name")!.Value.Start, "the name must be a letter then letters, digits, '-' or '_' (it becomes a C# constant)");
                return null;
            }

            bool ok = true;
            string kind = context.Choice(obj, "kind", s_indexKinds, "", name, ref ok);
            if (kind.Length == 0)
            {
                if (ok)
                {
                    context.Report(DiagnosticDescriptors.MissingMember.Id, obj.Start, 1, $"Index '{name}'", "kind");
                }

                return null;
            }

            var operators = context.Strings(obj, "operators", name, ref ok);
            foreach (string op in operators)
            {
                if (!s_indexOperators.Contains(op))
                {
                    Invalid(obj.Find("operators")!.Value.Start, $"operator '{op}' is not one of {string.Join(", ", s_indexOperators)}");
                    ok = false;
                }
                else if (kind != "ordered" && op != "eq")
                {
                    Invalid(obj.Find("operators")!.Value.Start, $"a {kind} index answers only eq, not '{op}' (only an ordered index has ranges)");
                    ok = false;
                }
            }

            if (operators.Count == 0 && ok)
            {
                Invalid(obj.Start, "'operators' must list at least one filter operator the index answers");
                ok = false;
            }

            bool sortBy = context.Boolean(obj, "sortBy", name, ref ok);
            if (sortBy && kind != "ordered")
            {
                Invalid(obj.Find("sortBy")!.Value.Start, "only an ordered index serves sortBy");
                ok = false;
            }

            bool? caseExact = obj.Find("caseExact") is null ? null : context.Boolean(obj, "caseExact", name, ref ok);
            int number = ParseNumber(obj, kind, attribute, Invalid, ref ok);
            return ok ? new IndexSpec(name, attribute, kind, number, operators, sortBy, caseExact, context.Location(obj.Start, 1)) : null;
        }

        // Ordered: 0–127; lookup: 128–254, except externalId, which the store keeps in a slot of its
        // own; unique and membership: none (the store's own structures).
        private static int ParseNumber(JsonObject obj, string kind, string attribute, Action<int, string> invalid, ref bool ok)
        {
            var member = obj.Find("number");
            bool wantsNumber = kind == "ordered" || (kind == "lookup" && !string.Equals(attribute, "externalId", StringComparison.OrdinalIgnoreCase));
            if (member is null)
            {
                if (wantsNumber)
                {
                    invalid(obj.Start, $"a {kind} index needs a 'number' (its key in the store; never renumber one)");
                    ok = false;
                }

                return -1;
            }

            if (!wantsNumber)
            {
                invalid(member.Value.Start, kind == "lookup"
                    ? "externalId is kept in the store's own slot: give it no number"
                    : $"a {kind} index has no number (the store keeps it in its own structure)");
                ok = false;
                return -1;
            }

            var (low, high) = kind == "ordered" ? (0, FirstLookupNumber - 1) : (FirstLookupNumber, LastLookupNumber);
            if (member.Value is JsonLiteral literal && int.TryParse(literal.Text, out int number) && number >= low && number <= high)
            {
                return number;
            }

            invalid(member.Value.Start, $"a {kind} index's number is an integer from {low} to {high}");
            ok = false;
            return -1;
        }

        private static List<IndexCatalogueSpec> CombineCatalogues(IEnumerable<SchemaFileSpec> files, List<ResourceTypeSpec> resourceTypes, List<DiagnosticInfo> diagnostics, List<SchemaSpec> schemas)
        {
            var result = new List<IndexCatalogueSpec>();
            var seenTypes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var catalogue in files.SelectMany(f => f.Catalogues))
            {
                void Invalid(LocationInfo at, string index, string message) =>
                    diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.InvalidIndex.Id, at, new[] { index, catalogue.ResourceType, message }.ToEquatableArray()));

                var resourceType = resourceTypes.FirstOrDefault(r => string.Equals(r.Name, catalogue.ResourceType, StringComparison.OrdinalIgnoreCase));
                if (resourceType is null)
                {
                    Invalid(catalogue.Location, "(catalogue)", "no resource type has this name");
                    continue;
                }

                if (!seenTypes.Add(resourceType.Name))
                {
                    diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.DuplicateDefinition.Id, catalogue.Location, new[] { "Index catalogue of", resourceType.Name }.ToEquatableArray()));
                    continue;
                }

                // By the C# constant each name becomes ("x-y" and "xY" are both XY).
                var names = new HashSet<string>(StringComparer.Ordinal);
                var numbers = new HashSet<int>();
                var valid = new List<IndexSpec>();
                bool sound = true;
                foreach (var index in catalogue.Indexes)
                {
                    if (!names.Add(Names.TypeName(index.Name)) || (index.Number >= 0 && !numbers.Add(index.Number)))
                    {
                        Invalid(index.Location, index.Name, "the name or number is used by another index of this type");
                        sound = false;
                        continue;
                    }

                    if (Names.TypeName(index.Name) is "Catalogue" or "Collect")
                    {
                        Invalid(index.Location, index.Name, "the name would clash with the generated Catalogue / Collect members; choose another");
                        sound = false;
                        continue;
                    }

                    var attribute = ResolveIndexAttribute(schemas, resourceType, index.Attribute, out bool multiValued);
                    if (attribute is null)
                    {
                        diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.UnknownIndexAttribute.Id, index.Location, new[] { index.Name, resourceType.Name, index.Attribute }.ToEquatableArray()));
                        sound = false;
                        continue;
                    }

                    if (IndexProblem(index, attribute, multiValued) is { } problem)
                    {
                        Invalid(index.Location, index.Name, problem);
                        sound = false;
                        continue;
                    }

                    valid.Add(index);
                }

                if (valid.Count(i => i.Kind == "unique") > 1)
                {
                    Invalid(catalogue.Location, "(catalogue)", "at most one unique index per resource type (the store keeps one unique name)");
                    sound = false;
                }

                if (!valid.Any(i => i.Kind == "ordered" && i.Number == 0 && string.Equals(i.Attribute, "id", StringComparison.OrdinalIgnoreCase)))
                {
                    Invalid(catalogue.Location, "(catalogue)", "an ordered index on id, number 0, is required: lists, cursors, exports and index builds walk it, in every store ever written");
                    sound = false;
                }

                if (sound)
                {
                    result.Add(catalogue with { Indexes = valid.ToEquatableArray() });
                }
            }

            return result;
        }

        // What the index can key: one string or dateTime per resource (ordered, unique), or any
        // number of them (lookup, membership).
        private static string? IndexProblem(IndexSpec index, AttributeSpec attribute, bool multiValued)
        {
            if (attribute.Type is not ("string" or "reference" or "dateTime"))
            {
                return $"'{index.Attribute}' is a {attribute.Type}; indexes key strings, references and dateTimes";
            }

            if (multiValued && index.Kind is "ordered" or "unique")
            {
                return $"'{index.Attribute}' is multi-valued; a {index.Kind} index keys one value per resource (use a lookup)";
            }

            if (index.CaseExact == true && !attribute.CaseExact && attribute.Type != "dateTime")
            {
                return $"'{index.Attribute}' is compared case-insensitively (caseExact false in its schema): its index cannot key it case-exactly, or filters would miss values differing only in case";
            }

            bool caseExact = index.CaseExact ?? attribute.CaseExact;
            if (attribute.Type == "dateTime" && (index.Kind != "ordered" || index.Operators.Contains("sw")))
            {
                return "a dateTime is indexed ordered, without sw";
            }

            if (index.Kind == "unique" && caseExact)
            {
                return "the unique name is compared case-insensitively by the store (RFC 7643 §4.1.1); it cannot be caseExact";
            }

            if (index.Kind == "ordered" && !caseExact && attribute.Type != "dateTime" && index.Operators.Any(op => op is "gt" or "ge" or "lt" or "le"))
            {
                return "a case-insensitive ordered index answers only eq and sw: upper-cased key order differs from SCIM's case-insensitive order for a few characters, so a range could miss matches";
            }

            if (index.Kind == "membership" && !string.Equals(index.Attribute, "members.value", StringComparison.OrdinalIgnoreCase))
            {
                return "a membership index is on members.value (the store's membership pairs)";
            }

            return null;
        }

        // id, externalId, meta.created / meta.lastModified, a core attribute or sub-attribute, or
        // an extension attribute by its full URN path ("urn:…:User:employeeNumber").
        private static AttributeSpec? ResolveIndexAttribute(List<SchemaSpec> schemas, ResourceTypeSpec resourceType, string path, out bool multiValued)
        {
            multiValued = false;
            IEnumerable<AttributeSpec> scope;
            string rest = path;
            var extension = resourceType.Extensions.FirstOrDefault(e => path.StartsWith(e.Schema + ":", StringComparison.OrdinalIgnoreCase));
            if (extension is not null)
            {
                scope = schemas.First(s => string.Equals(s.Id, extension.Schema, StringComparison.OrdinalIgnoreCase)).Attributes;
                rest = path.Substring(extension.Schema.Length + 1);
            }
            else
            {
                var core = schemas.First(s => string.Equals(s.Id, resourceType.Schema, StringComparison.OrdinalIgnoreCase));
                scope = Emitter.CommonAttributeSpecs().Concat(core.Attributes);
            }

            string[] parts = rest.Split('.');
            if (parts.Length > 2)
            {
                return null;
            }

            var attribute = scope.FirstOrDefault(a => string.Equals(a.Name, parts[0], StringComparison.OrdinalIgnoreCase));
            if (attribute is null || parts.Length == 1)
            {
                multiValued = attribute?.MultiValued ?? false;
                return attribute is { Type: not "complex" } ? attribute : null;
            }

            multiValued = attribute.MultiValued;
            var sub = attribute.SubAttributes.FirstOrDefault(a => string.Equals(a.Name, parts[1], StringComparison.OrdinalIgnoreCase));
            if (sub is null || sub.MultiValued)
            {
                return null;
            }

            return sub;
        }
    }
}
