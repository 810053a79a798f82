using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Patch;

/// <summary>
/// The typed path: operations applied through the generated <see cref="ScimResourceEditor{TResource}"/>
/// to a copy of the model. It takes what identity providers send on every sync (a simple attribute
/// or sub-attribute set or removed, <c>emails[type eq "work"].value</c>, extension attributes,
/// member deltas, path-less objects of those) and declines the rest, and anything that would fail,
/// to the JSON engine, which gives the answer and the error. Declining is always safe: the copy is
/// thrown away and the JSON engine starts from the caller's resource.
/// </summary>
public sealed partial class ScimPatcher<TResource>
{
    /// <summary>True when the typed path decided the request (and it succeeded); false to use the JSON engine.</summary>
    internal bool TryApplyTyped(TResource resource, ScimPatchRequest request, [NotNullWhen(true)] out ScimPatchResult<TResource>? result)
    {
        result = null;
        var editor = _editor!;
        if (_deltaAttribute is not null && editor.Accessor.Count(resource, _deltaAttribute.Ordinal) > 0)
        {
            // The delta attribute never takes part (the store keeps it apart); a resource carrying it is the JSON engine's.
            return false;
        }

        var copy = editor.Clone(resource);

        var edit = new TypedEdit(editor, copy);
        var operations = request.Operations;
        for (int i = 0; i < operations.Count; i++)
        {
            var operation = operations[i];
            if (operation.Path is null)
            {
                if (operation.Op == ScimPatchOp.Remove || operation.Value is not JsonObject members || !TryApplyPathless(ref edit, operation.Op, members))
                {
                    return false;
                }

                continue;
            }

            if (!ScimPatchPath.TryParse(operation.Path, _resourceType, out var path, out _)
                || (operation.Op != ScimPatchOp.Remove && !operation.HasValue))
            {
                return false;
            }

            // An explicit null unassigns (RFC 7643 §2.5).
            var op = operation.Op != ScimPatchOp.Remove && operation.Value is null ? ScimPatchOp.Remove : operation.Op;
            if (!TryApplyTypedAt(ref edit, op, path, operation.Value, operation.Path))
            {
                return false;
            }
        }

        var delta = edit.State?.Delta ?? new ScimMemberDelta();
        edit.State?.FinishDelta();
        editor.Prune(copy);

        // The net change: a value set and set back, or removed where there was none, is no change.
        bool changed = !delta.IsEmpty || !editor.Same(resource, copy);
        result = new ScimPatchResult<TResource>(copy, changed, delta);
        return true;
    }

    // {"op":"replace","value":{"displayName":"A","name.givenName":"B"}}: each key a path (RFC 7644 §3.5.2.3).
    private bool TryApplyPathless(ref TypedEdit edit, ScimPatchOp op, JsonObject members)
    {
        foreach (var (key, value) in members)
        {
            if (key.Equals("schemas", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            // An unknown key is ignored by the JSON engine, a bad one is an error: it decides both.
            if (!ScimPatchPath.TryParse(key, _resourceType, out var path, out _)
                || !TryApplyTypedAt(ref edit, value is null ? ScimPatchOp.Remove : op, path, value, key))
            {
                return false;
            }
        }

        return true;
    }

    private bool TryApplyTypedAt(ref TypedEdit edit, ScimPatchOp op, ScimPatchPath path, JsonNode? value, string pathText)
    {
        if (path.Extension is not null || path.Attribute is not { } attribute)
        {
            return false;
        }

        var top = attribute.Parent ?? attribute;
        if (_deltaAttribute is not null && ReferenceEquals(top, _deltaAttribute))
        {
            // Member ids only: the JSON engine's delta rules, without the document.
            edit.State ??= new PatchState([], new ScimMemberDelta());
            return ApplyDelta(edit.State, op, path, value, pathText) is null;
        }

        var target = path.SubAttribute ?? attribute;
        if (!IsPlainlyWritable(top) || !IsPlainlyWritable(attribute) || !IsPlainlyWritable(target))
        {
            return false;
        }

        if (path.Filter is null)
        {
            // A whole complex or multi-valued attribute, or "emails.value" (ambiguous): the JSON engine.
            if (attribute.MultiValued || attribute.Type == ScimAttributeType.Complex || attribute.Parent is { MultiValued: true })
            {
                return false;
            }

            if (op == ScimPatchOp.Remove)
            {
                return !attribute.Required && edit.Set(attribute.Ordinal, 0, ScimValue.Null);
            }

            return TryConvert(attribute, value, out var converted) && edit.Set(attribute.Ordinal, 0, converted);
        }

        return TryApplyFiltered(ref edit, op, path, value);
    }

    // emails[type eq "work"].value, emails[type eq "work"] (remove only).
    private static bool TryApplyFiltered(ref TypedEdit edit, ScimPatchOp op, ScimPatchPath path, JsonNode? value)
    {
        var attribute = path.Attribute!;
        var sub = path.SubAttribute;
        if (!attribute.MultiValued || attribute.Type != ScimAttributeType.Complex
            || (sub is null && op != ScimPatchOp.Remove)
            || (sub is not null && (sub.MultiValued || IsPrimaryAttribute(sub) || (op == ScimPatchOp.Remove && sub.Required))))
        {
            return false;
        }

        var converted = ScimValue.Null;
        if (op != ScimPatchOp.Remove && !TryConvert(sub!, value, out converted))
        {
            return false;
        }

        var accessor = edit.Editor.Accessor;
        int count = accessor.Count(edit.Resource, attribute.Ordinal);
        Span<bool> matches = count <= 64 ? stackalloc bool[count] : new bool[count];
        bool any = false;
        for (int i = 0; i < count; i++)
        {
            matches[i] = ElementMatches(path.Filter!, accessor, edit.Resource, i);
            any |= matches[i];
        }

        if (!any)
        {
            // Entra ID: add/replace on emails[type eq "work"].value with no work email creates one.
            return op != ScimPatchOp.Remove && TryCreateElement(ref edit, attribute, path.Filter!, sub!, converted);
        }

        if (sub is null)
        {
            accessor.RemoveValues(edit.Resource, attribute.Ordinal, matches);
            return true;
        }

        for (int i = 0; i < count; i++)
        {
            if (matches[i] && !edit.Set(sub.Ordinal, i, converted))
            {
                return false;
            }
        }

        return true;
    }

    private static bool TryCreateElement(ref TypedEdit edit, ScimAttribute attribute, FilterNode filter, ScimAttribute sub, in ScimValue value)
    {
        if (!IsEqualities(filter))
        {
            return false;
        }

        int index = edit.Editor.AddElement(edit.Resource, attribute.Ordinal);
        return index >= 0 && SetEqualities(edit, filter, index) && edit.Editor.TrySet(edit.Resource, sub.Ordinal, index, value);
    }

    // type eq "work" (and …): what a created element gets. primary's rule is the JSON engine's.
    private static bool IsEqualities(FilterNode filter) => filter switch
    {
        FilterAnd and => IsEqualities(and.Left) && IsEqualities(and.Right),
        FilterComparison { Operator: FilterOperator.Eq, Value.IsNull: false } comparison => !IsPrimaryAttribute(comparison.Attribute),
        _ => false,
    };

    private static bool SetEqualities(in TypedEdit edit, FilterNode filter, int index) => filter is FilterAnd and
        ? SetEqualities(edit, and.Left, index) && SetEqualities(edit, and.Right, index)
        : filter is FilterComparison comparison && edit.Editor.TrySet(edit.Resource, comparison.Attribute.Ordinal, index, comparison.Value);

    // primary carries the one-primary rule (RFC 7643 §2.4); readOnly and immutable carry their own
    // errors and exceptions. The JSON engine applies those.
    private static bool IsPlainlyWritable(ScimAttribute attribute) =>
        attribute.Mutability is ScimMutability.ReadWrite or ScimMutability.WriteOnly;

    private static bool IsPrimaryAttribute(ScimAttribute attribute) => attribute.Name.Equals("primary", StringComparison.OrdinalIgnoreCase);

    // The value as the generated reader would read it: a JSON string for string and reference
    // attributes; true/false, or their text in any case (Entra sends "False"), for booleans.
    private static bool TryConvert(ScimAttribute attribute, JsonNode? node, out ScimValue value)
    {
        value = ScimValue.Null;
        if (node is not JsonValue json)
        {
            return false;
        }

        var kind = json.GetValueKind();
        switch (attribute.Type)
        {
            case ScimAttributeType.String or ScimAttributeType.Reference when kind == JsonValueKind.String:
                value = ScimValue.From(json.GetValue<string>());
                return true;
            case ScimAttributeType.Boolean when kind is JsonValueKind.True or JsonValueKind.False:
                value = ScimValue.From(kind == JsonValueKind.True);
                return true;
            case ScimAttributeType.Boolean when kind == JsonValueKind.String:
                string text = json.GetValue<string>();
                if (text.Equals("true", StringComparison.OrdinalIgnoreCase) || text.Equals("false", StringComparison.OrdinalIgnoreCase))
                {
                    value = ScimValue.From(text.Length == 4);
                    return true;
                }

                return false;
            default:
                return false;
        }
    }

    // JsonElementFilter's rules (RFC 7644 §3.4.2.2) over element `index` of the typed model.
    private static bool ElementMatches(FilterNode filter, ScimResourceAccessor<TResource> accessor, TResource resource, int index) => filter switch
    {
        FilterAnd and => ElementMatches(and.Left, accessor, resource, index) && ElementMatches(and.Right, accessor, resource, index),
        FilterOr or => ElementMatches(or.Left, accessor, resource, index) || ElementMatches(or.Right, accessor, resource, index),
        FilterNot not => !ElementMatches(not.Inner, accessor, resource, index),
        FilterComparison comparison => JsonElementFilter.Test(comparison, accessor.Get(resource, comparison.Attribute.Ordinal, index)),
        _ => false,
    };

    /// <summary>One typed PATCH in progress: the copy and the member delta.</summary>
    private struct TypedEdit(ScimResourceEditor<TResource> editor, TResource resource)
    {
        public readonly ScimResourceEditor<TResource> Editor = editor;
        public readonly TResource Resource = resource;
        public PatchState? State;

        public readonly bool Set(int ordinal, int index, in ScimValue value) => Editor.TrySet(Resource, ordinal, index, value);
    }
}
