using System.Collections.Generic;
using System.Linq;

namespace Scim.Fast.Generators;

public sealed partial class ScimSchemaGenerator
{
    /// <summary>The generated editor: typed edits by ordinal, which PATCH applies through.</summary>
    internal static partial class Emitter
    {
        // ----- Editor: clone, set, add element, prune, compare (see ScimResourceEditor<TResource>) -----

        private static string EmitEditor(string ns, ResourceLayout layout)
        {
            string typeName = Names.TypeName(layout.ResourceType.Name);
            string name = typeName + "Editor";
            string model = layout.ModelType;

            var w = new SourceWriter();
            w.Line(Header);
            w.Line("using System.Collections.Generic;");
            w.Line();
            w.Line("using Scim.Fast.Core.Patch;");
            w.Line("using Scim.Fast.Core.Query;");
            w.Line();
            w.Line($"namespace {ns};");
            w.Line();
            w.Line($"/// <summary>Typed edits of <c>{Names.Xml(layout.ResourceType.Name)}</c> by ordinal (see <see cref=\"ScimResourceEditor{{TResource}}\"/>).</summary>");
            w.Open($"public sealed partial class {name} : ScimResourceEditor<{model}>");
            w.Line("/// <summary>The one instance; the editor holds no state.</summary>");
            w.Line($"public static {name} Instance {{ get; }} = new();");
            w.Line();
            w.Line($"public override ScimResourceAccessor<{model}> Accessor => {typeName}Accessor.Instance;");
            w.Line();

            EmitEditorClone(w, layout);
            EmitEditorSet(w, layout);
            EmitEditorAddElement(w, layout);
            EmitEditorPrune(w, layout);
            EmitEditorSame(w, layout);

            w.Close();
            return w.ToString();
        }

        // The scopes a resource's values live in: the resource itself, then each extension block,
        // with the expression reaching the block (creating it when `create`).
        private static IEnumerable<(Scope Scope, string Owner, string? Extension)> EditorScopes(ResourceLayout layout)
        {
            yield return (layout.ResourceScope, "resource", null);
            foreach (var extension in layout.Extensions)
            {
                yield return (extension.Scope, "resource." + extension.Property, extension.Property);
            }
        }

        private static string OwnerForWrite(string owner, string? extension, ResourceLayout layout) =>
            extension is null ? owner : $"(resource.{extension} ??= new {layout.Extensions.First(e => e.Property == extension).Scope.TargetType}())";

        private static void EmitEditorClone(SourceWriter w, ResourceLayout layout)
        {
            w.Line("/// <inheritdoc/>");
            w.Open($"public override {layout.ModelType} Clone({layout.ModelType} resource)");
            w.Line($"var copy = CloneScope{layout.ResourceScope.Key}(resource);");
            foreach (var extension in layout.Extensions)
            {
                w.Line($"copy.{extension.Property} = resource.{extension.Property} is {{ }} e{extension.Ordinal} ? CloneScope{extension.Scope.Key}(e{extension.Ordinal}) : null;");
            }

            w.Line("return copy;");
            w.Close();
            w.Line();

            foreach (var scope in layout.AllScopes())
            {
                w.Open($"private static {scope.TargetType} CloneScope{scope.Key}({scope.TargetType} value) => new()");
                foreach (var member in scope.Members)
                {
                    string source = "value." + member.Property;
                    if (member.Complex is null)
                    {
                        w.Line(member.Spec.MultiValued ? $"{member.Property} = CloneList({source})," : $"{member.Property} = {source},");
                    }
                    else if (member.Spec.MultiValued)
                    {
                        w.Line($"{member.Property} = CloneList({source}, CloneScope{member.Complex.Key}),");
                    }
                    else
                    {
                        w.Line($"{member.Property} = {source} is {{ }} m{member.Ordinal} ? CloneScope{member.Complex.Key}(m{member.Ordinal}) : null,");
                    }
                }

                w.Close("};");
                w.Line();
            }
        }

        private static string? Conversion(Member member) => member.Spec.MultiValued ? null : member.Spec.Type switch
        {
            "string" or "reference" => "TryString",
            "boolean" => "TryBoolean",
            _ => null,
        };

        private static void EmitEditorSet(SourceWriter w, ResourceLayout layout)
        {
            OpenOrdinalSwitch(w, $"public override bool TrySet({layout.ModelType} resource, int ordinal, int index, in ScimValue value)");
            foreach (var (scope, owner, extension) in EditorScopes(layout))
            {
                string write = OwnerForWrite(owner, extension, layout);
                foreach (var member in scope.Members)
                {
                    string clear = extension is null ? owner : owner + "?";
                    if (member.Complex is null)
                    {
                        EmitSetCase(w, member, $"{write}.{member.Property}", $"{clear}.{member.Property}");
                        continue;
                    }

                    foreach (var sub in member.Complex.Members)
                    {
                        if (member.Spec.MultiValued)
                        {
                            string element = $"{(extension is null ? owner : $"{owner}!")}.{member.Property}![index].{sub.Property}";
                            EmitSetCase(w, sub, element, element);
                        }
                        else
                        {
                            EmitSetCase(w, sub, $"({write}.{member.Property} ??= new {member.Complex.TargetType}()).{sub.Property}", $"{clear}.{member.Property}?.{sub.Property}");
                        }
                    }
                }
            }

            CloseOrdinalSwitch(w, "default: return false;");
        }

        // `target` creates a missing parent; `clear` (null-conditional) unassigns without creating one.
        private static void EmitSetCase(SourceWriter w, Member member, string target, string clear)
        {
            if (Conversion(member) is not { } conversion)
            {
                return;
            }

            w.Line($"case {member.Ordinal}: // {member.Path}");
            w.Open();
            w.Line($"if (!{conversion}(value, out var converted))");
            w.Open();
            w.Line("return false;");
            w.Close();
            w.Line();
            w.Open("if (converted is null)");
            w.Line($"{clear} = null;");
            w.Close();
            w.Open("else");
            w.Line($"{target} = converted;");
            w.Close();
            w.Line();
            w.Line("return true;");
            w.Close();
        }

        private static void EmitEditorAddElement(SourceWriter w, ResourceLayout layout)
        {
            OpenOrdinalSwitch(w, $"public override int AddElement({layout.ModelType} resource, int ordinal)");
            foreach (var (scope, owner, extension) in EditorScopes(layout))
            {
                string write = OwnerForWrite(owner, extension, layout);
                foreach (var member in scope.Members.Where(m => m.Complex is not null && m.Spec.MultiValued))
                {
                    w.Line($"case {member.Ordinal}: // {member.Path}");
                    w.Open();
                    w.Line($"var list = {write}.{member.Property} ??= new List<{member.Complex!.TargetType}>();");
                    w.Line($"list.Add(new {member.Complex.TargetType}());");
                    w.Line("return list.Count - 1;");
                    w.Close();
                }
            }

            CloseOrdinalSwitch(w, "default: return -1;");
        }

        // An overriding method that is one switch over the ordinal.
        private static void OpenOrdinalSwitch(SourceWriter w, string signature)
        {
            w.Line("/// <inheritdoc/>");
            w.Open(signature);
            w.Open("switch (ordinal)");
        }

        private static void CloseOrdinalSwitch(SourceWriter w, string defaultCase)
        {
            w.Line(defaultCase);
            w.Close();
            w.Close();
            w.Line();
        }

        private static void EmitEditorPrune(SourceWriter w, ResourceLayout layout)
        {
            w.Line("/// <inheritdoc/>");
            w.Open($"public override bool Prune({layout.ModelType} resource)");
            w.Line($"bool removed = PruneScope{layout.ResourceScope.Key}(resource);");
            foreach (var extension in layout.Extensions)
            {
                w.Open($"if (resource.{extension.Property} is {{ }} e{extension.Ordinal})");
                w.Line($"removed |= PruneScope{extension.Scope.Key}(e{extension.Ordinal});");
                w.Open($"if (IsEmptyScope{extension.Scope.Key}(e{extension.Ordinal}))");
                w.Line($"resource.{extension.Property} = null;");
                w.Line("removed = true;");
                w.Close();
                w.Close();
            }

            w.Line("return removed;");
            w.Close();
            w.Line();

            foreach (var scope in layout.AllScopes())
            {
                // What the JSON form prunes (RFC 7643 §2.5): empty lists, empty complex values and elements.
                w.Open($"private static bool PruneScope{scope.Key}({scope.TargetType} value)");
                w.Line("bool removed = false;");
                foreach (var member in scope.Members)
                {
                    string property = "value." + member.Property;
                    if (member.Complex is null && !member.Spec.MultiValued)
                    {
                        continue;
                    }

                    if (member.Complex is null)
                    {
                        w.Open($"if ({property} is {{ Count: 0 }})");
                    }
                    else if (member.Spec.MultiValued)
                    {
                        w.Open($"if ({property} is {{ }} l{member.Ordinal})");
                        w.Open($"foreach (var element in l{member.Ordinal})");
                        w.Line($"removed |= element is not null && PruneScope{member.Complex.Key}(element);");
                        w.Close();
                        w.Line();
                        w.Line($"removed |= RemoveEmpty(l{member.Ordinal}, IsEmptyScope{member.Complex.Key});");
                        w.Close();
                        w.Line();
                        w.Open($"if ({property} is {{ Count: 0 }})");
                    }
                    else
                    {
                        w.Open($"if ({property} is {{ }} c{member.Ordinal})");
                        w.Line($"removed |= PruneScope{member.Complex.Key}(c{member.Ordinal});");
                        w.Close();
                        w.Line();
                        w.Open($"if ({property} is {{ }} e{member.Ordinal} && IsEmptyScope{member.Complex.Key}(e{member.Ordinal}))");
                    }

                    w.Line($"{property} = null;");
                    w.Line("removed = true;");
                    w.Close();
                    w.Line();
                }

                w.Line("return removed;");
                w.Close();
                w.Line();

                if (scope == layout.ResourceScope)
                {
                    continue;
                }

                string empty = scope.Members.Count == 0
                    ? "true"
                    : string.Join(" && ", scope.Members.Select(m => m.Spec.MultiValued ? $"(value.{m.Property} is null or {{ Count: 0 }})" : $"value.{m.Property} is null"));
                w.Line($"private static bool IsEmptyScope{scope.Key}({scope.TargetType} value) => {empty};");
                w.Line();
            }
        }

        private static void EmitEditorSame(SourceWriter w, ResourceLayout layout)
        {
            w.Line("/// <inheritdoc/>");
            string extensions = string.Concat(layout.Extensions.Select(e => $" && SameComplex(a.{e.Property}, b.{e.Property}, SameScope{e.Scope.Key})"));
            w.Line($"public override bool Same({layout.ModelType} a, {layout.ModelType} b) => SameScope{layout.ResourceScope.Key}(a, b){extensions};");
            w.Line();
            foreach (var scope in layout.AllScopes())
            {
                var terms = scope.Members.Select(member =>
                {
                    string a = "a." + member.Property;
                    string b = "b." + member.Property;
                    if (member.Complex is not null)
                    {
                        return member.Spec.MultiValued ? $"SameList({a}, {b}, SameScope{member.Complex.Key})" : $"SameComplex({a}, {b}, SameScope{member.Complex.Key})";
                    }

                    if (member.Spec.MultiValued)
                    {
                        return $"SameValues({a}, {b})";
                    }

                    return member.Spec.Type == "dateTime" ? $"SameInstant({a}, {b})" : $"{a} == {b}";
                }).ToList();
                string body = terms.Count == 0 ? "true" : string.Join("\n        && ", terms);
                w.Line($"private static bool SameScope{scope.Key}({scope.TargetType} a, {scope.TargetType} b) =>");
                w.Line($"    {body};");
                w.Line();
            }
        }
    }
}
