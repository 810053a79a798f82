using System;
using System.Collections.Generic;
using System.Linq;

using Scim.Fast.Generators.Model;

namespace Scim.Fast.Generators;

public sealed partial class ScimSchemaGenerator
{
    /// <summary>The index catalogue of a resource type as code: numbers, metadata and key extraction.</summary>
    internal static partial class Emitter
    {
        private static string EmitIndexes(string ns, ResourceLayout layout, IndexCatalogueSpec catalogue)
        {
            string typeName = Names.TypeName(layout.ResourceType.Name);
            string name = typeName + "Indexes";
            var entries = AccessorEntries(layout);
            var w = new SourceWriter();
            w.Line(Header);
            w.Line("using Scim.Fast.Core.Query;");
            w.Line();
            w.Line($"namespace {ns};");
            w.Line();
            w.Line($"/// <summary>The indexes of <c>{Names.Xml(layout.ResourceType.Name)}</c> as its catalogue declares them (DESIGN-NOTES §8).</summary>");
            w.Open($"public static partial class {name}");
            foreach (var index in catalogue.Indexes.Where(i => i.Number >= 0))
            {
                w.Line($"/// <summary>The store's number of the {index.Kind} index <c>{Names.Xml(index.Name)}</c> on <c>{Names.Xml(index.Attribute)}</c>.</summary>");
                w.Line($"public const byte {Names.TypeName(index.Name)} = {index.Number};");
                w.Line();
            }

            w.Line("/// <summary>Every index of the type: what the planner, the write path and sortBy read.</summary>");
            w.Line($"public static ScimIndexCatalogue Catalogue {{ get; }} = new(ScimResourceTypes.{typeName},");
            w.Open("[");
            foreach (var index in catalogue.Indexes)
            {
                var member = FindMember(entries, index.Attribute);
                bool caseExact = index.CaseExact ?? member.Spec.CaseExact;
                string operators = string.Join(" | ", index.Operators.Select(op => "ScimIndexOperators." + Names.TypeName(op)));
                w.Line($"new ScimIndex(ScimResourceTypes.{typeName}, {Names.Literal(index.Name)}, ScimIndexKind.{Names.TypeName(index.Kind)}, {(index.Number >= 0 ? index.Number : 255)}, {Names.Literal(member.Path)}, caseExact: {Bool(caseExact)}, {operators}, sortBy: {Bool(index.SortBy)}),");
            }

            w.Close("]);");
            w.Line();
            w.Line("/// <summary>");
            w.Line("/// Hands every value the resource is indexed under to <paramref name=\"sink\"/> with its index:");
            w.Line("/// the write path derives the store's index entries from this, and nothing else.");
            w.Line("/// Membership is kept by the store from member changes, so it is not collected here.");
            w.Line("/// </summary>");
            w.Open($"public static void Collect<TSink>({layout.ModelType} resource, ref TSink sink) where TSink : struct, IScimIndexSink");
            w.Line("var indexes = Catalogue.Indexes;");
            int position = 0;
            foreach (var index in catalogue.Indexes)
            {
                if (index.Kind != "membership")
                {
                    var (member, count, get) = entries.First(e => e.Member == FindMember(entries, index.Attribute));
                    w.Line($"// {index.Name}: {member.Path}");
                    w.Open($"for (int index = 0, n = {count}; index < n; index++)");
                    w.Line($"var value = {get};");
                    w.Open("if (!value.IsNull)");
                    w.Line($"sink.Add(indexes[{position}], value);");
                    w.Close();
                    w.Close();
                }

                position++;
            }

            w.Close();
            w.Close();
            return w.ToString();
        }

        private static Member FindMember(List<(Member Member, string Count, string Get)> entries, string path) =>
            entries.First(e => string.Equals(e.Member.Path, path, StringComparison.OrdinalIgnoreCase)).Member;
    }
}
