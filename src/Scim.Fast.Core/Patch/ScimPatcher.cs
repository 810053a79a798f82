using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Patch;

/// <summary>Membership changes of a PATCH, as deltas the store applies in O(changed members).</summary>
public sealed class ScimMemberDelta
{
    /// <summary>True when the request replaced or removed the whole member list first.</summary>
    public bool RemoveAll { get; internal set; }

    /// <summary>Members added (after <see cref="RemoveAll"/>, if set): each the member's JSON value object.</summary>
    public List<JsonObject> Added { get; } = [];

    /// <summary>Member ids removed.</summary>
    public List<string> Removed { get; } = [];

    public bool IsEmpty => !RemoveAll && Added.Count == 0 && Removed.Count == 0;
}

/// <summary>The outcome of a PATCH: the new resource, whether it changed, and membership deltas.</summary>
public sealed class ScimPatchResult<TResource>
    where TResource : class
{
    internal ScimPatchResult(TResource resource, bool changed, ScimMemberDelta members)
    {
        Resource = resource;
        Changed = changed;
        Members = members;
    }

    /// <summary>
    /// The patched resource: a new instance; the input is never modified. It never carries the
    /// delta attribute (Group.members): the store keeps membership apart, see <see cref="Members"/>.
    /// </summary>
    public TResource Resource { get; }

    /// <summary>False when the operations left every attribute as it was (no new version needed).</summary>
    public bool Changed { get; }

    /// <summary>Changes to the delta-managed attribute (Group.members), never applied to <see cref="Resource"/>.</summary>
    public ScimMemberDelta Members { get; }
}

/// <summary>
/// Applies RFC 7644 §3.5.2 PATCH operations to a resource, atomically: the operations run on a
/// copy (the resource's JSON form, walked with the generated schema tables), and only if all succeed
/// is the copy read back through the generated reader into a new typed resource. Any failure leaves
/// the caller's resource as it was.
/// </summary>
/// <remarks>
/// <para>Paths: <c>attr</c>, <c>attr.sub</c>, <c>urn:…:attr</c>, an extension URN, <c>attr[filter]</c>
/// and <c>attr[filter].sub</c>. Mutability is enforced (readOnly → 400 mutability, immutable may only
/// be set once, required attributes cannot be removed). <c>primary</c> stays unique: setting one
/// value primary clears the others (RFC 7643 §2.4).</para>
/// <para>Identity-provider dialects accepted: capitalised <c>op</c>; string booleans; remove with a
/// value array (<c>{"op":"Remove","path":"members","value":[{"value":"id"}]}</c>); pathless add or
/// replace whose keys are paths (<c>{"name.givenName":"A"}</c>, URN-qualified keys, extension blocks);
/// zero operations; PascalCase names. And the Entra ID rule: add or replace on
/// <c>emails[type eq "work"].value</c> when no such element exists creates it
/// (<c>{"type":"work","value":…}</c>); other filters that match nothing are 400 noTarget.</para>
/// <para>The delta attribute (Group.members) is never read or rewritten: its operations become a
/// <see cref="ScimMemberDelta"/>, so adding one member to a group of a million costs one member.</para>
/// </remarks>
public sealed class ScimPatcher<TResource>
    where TResource : class, IScimResource
{
    private static readonly ScimReadOptions s_readBack = new() { IgnoreReadOnly = false, RequireSchemas = false };

    private readonly ScimResourceSerializer<TResource> _serializer;
    private readonly ScimResourceType _resourceType;
    private readonly ScimAttribute? _deltaAttribute;

    /// <param name="serializer">The resource type's generated serializer.</param>
    /// <param name="deltaAttribute">Top-level attribute managed as deltas (e.g. "members"), or null.</param>
    public ScimPatcher(ScimResourceSerializer<TResource> serializer, string? deltaAttribute = null)
    {
        _serializer = serializer;
        _resourceType = serializer.ResourceType;
        _deltaAttribute = deltaAttribute is null ? null : _resourceType.ResolvePath(deltaAttribute)
            ?? throw new ArgumentException($"'{deltaAttribute}' is not an attribute of {_resourceType.Name}.", nameof(deltaAttribute));
    }

    public bool TryApply(
        TResource resource,
        ScimPatchRequest request,
        [NotNullWhen(true)] out ScimPatchResult<TResource>? result,
        [NotNullWhen(false)] out ScimError? error)
    {
        result = null;
        var everything = ScimProjection.Everything(_resourceType);
        var document = JsonNode.Parse(Write(resource, everything))!.AsObject();
        if (_deltaAttribute is not null)
        {
            // The delta attribute never takes part: the store keeps it apart.
            document.Remove(_deltaAttribute.Name);
        }

        byte[] original = JsonSerializer.SerializeToUtf8Bytes(document);

        var state = new PatchState(document, new ScimMemberDelta());
        for (int i = 0; i < request.Operations.Count; i++)
        {
            error = Apply(state, request.Operations[i]);
            if (error is not null)
            {
                return false;
            }
        }

        state.FinishDelta();
        Prune(document);

        // Read the patched JSON back through the generated reader: it type-checks every value
        // (a string for a boolean attribute is 400 invalidValue naming the attribute).
        var patched = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(patched))
        {
            document.WriteTo(writer);
        }

        if (!_serializer.TryRead(patched.WrittenMemory, s_readBack, out var updated, out error))
        {
            return false;
        }

        // Compare canonical forms: the same resource written twice gives the same bytes.
        var before = JsonNode.Parse(original)!.AsObject();
        bool changed = !JsonNode.DeepEquals(before, JsonNode.Parse(Write(updated, everything))) || !state.Delta.IsEmpty;
        result = new ScimPatchResult<TResource>(updated, changed, state.Delta);
        return true;
    }

    private byte[] Write(TResource resource, ScimProjection projection)
    {
        var buffer = new ArrayBufferWriter<byte>();
        _serializer.Write(buffer, resource, projection);
        return buffer.WrittenSpan.ToArray();
    }

    private ScimError? Apply(PatchState state, ScimPatchOperation operation)
    {
        if (operation.Path is null)
        {
            return operation.Op == ScimPatchOp.Remove
                ? ScimError.NoTarget("remove needs a path (RFC 7644 §3.5.2.2).")
                : ApplyPathless(state, operation);
        }

        if (!ScimPatchPath.TryParse(operation.Path, _resourceType, out var path, out var error))
        {
            return error;
        }

        if (operation.Op != ScimPatchOp.Remove && !operation.HasValue)
        {
            return ScimError.InvalidValue($"{OpName(operation.Op)} '{operation.Path}' needs a value.");
        }

        // An explicit null unassigns (RFC 7643 §2.5; Entra ID sends "title": null).
        var op = operation.Op != ScimPatchOp.Remove && operation.Value is null ? ScimPatchOp.Remove : operation.Op;
        return ApplyAt(state, op, path, operation.Value, operation.Path);
    }

    // add / replace without a path: the value's members name what to change (RFC 7644 §3.5.2.1, §3.5.2.3).
    // Entra ID puts paths in the keys ("name.givenName", "urn:…:User:employeeNumber").
    private ScimError? ApplyPathless(PatchState state, ScimPatchOperation operation)
    {
        if (operation.Value is not JsonObject members)
        {
            return ScimError.InvalidValue($"{OpName(operation.Op)} without a path needs an object value.");
        }

        foreach (var (key, value) in members)
        {
            if (key.Equals("schemas", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!ScimPatchPath.TryParse(key, _resourceType, out var path, out var error))
            {
                // An attribute we do not know is ignored, as the reader ignores it on create.
                if (error.Type == ScimErrorType.InvalidPath && !key.Contains('['))
                {
                    continue;
                }

                return error;
            }

            error = ApplyAt(state, value is null ? ScimPatchOp.Remove : operation.Op, path, value, key);
            if (error is not null)
            {
                return error;
            }
        }

        return null;
    }

    private ScimError? ApplyAt(PatchState state, ScimPatchOp op, ScimPatchPath path, JsonNode? value, string pathText)
    {
        if (op != ScimPatchOp.Remove && value is null)
        {
            return ScimError.InvalidValue($"{OpName(op)} '{pathText}' needs a value.");
        }

        if (path.Extension is { } extension)
        {
            return ApplyToExtension(state, op, extension, value, pathText);
        }

        var attribute = path.Attribute!;
        var top = attribute.Parent ?? attribute;
        if (_deltaAttribute is not null && ReferenceEquals(top, _deltaAttribute))
        {
            return ApplyDelta(state, op, path, value, pathText);
        }

        var target = path.SubAttribute ?? attribute;
        if (target.Mutability == ScimMutability.ReadOnly || top.Mutability == ScimMutability.ReadOnly)
        {
            // Okta sends the resource's own id back in path-less replaces: writing a readOnly
            // attribute's current value is no change, so it is accepted and ignored.
            if (op != ScimPatchOp.Remove && path.Filter is null && attribute.Parent is null
                && TryNormalize(attribute, value, out var same, out _)
                && JsonNode.DeepEquals(Member(Container(state.Document, top, create: false) ?? [], attribute.Name), same))
            {
                return null;
            }

            return ScimError.Mutability($"'{pathText}' is readOnly.");
        }

        var container = Container(state.Document, top, create: op != ScimPatchOp.Remove);
        if (path.Filter is not null)
        {
            return ApplyFiltered(op, path, container, value, pathText);
        }

        if (attribute.Parent is { } parent)
        {
            // name.givenName, or emails.value without a filter.
            return ApplySubAttribute(op, parent, attribute, container, value, pathText);
        }

        return ApplyAttribute(op, attribute, container, value, pathText);
    }

    private static ScimError? ApplyAttribute(ScimPatchOp op, ScimAttribute attribute, JsonObject? container, JsonNode? value, string pathText)
    {
        var current = container is null ? null : Member(container, attribute.Name);
        if (op == ScimPatchOp.Remove)
        {
            if (container is null || current is null)
            {
                return null;
            }

            if (attribute.Mutability == ScimMutability.Immutable)
            {
                return ScimError.Mutability($"'{pathText}' is immutable.");
            }

            if (attribute.MultiValued && value is not null)
            {
                // {"op":"remove","path":"emails","value":[{"value":"a@x"}]}: remove the listed values only.
                var removeError = RemoveListed(attribute, container, value, pathText);
                return removeError ?? (attribute.Required && Member(container, attribute.Name) is JsonArray { Count: 0 }
                    ? ScimError.Mutability($"'{pathText}' is required and cannot be emptied.")
                    : null);
            }

            if (attribute.Required)
            {
                return ScimError.Mutability($"'{pathText}' is required and cannot be removed.");
            }

            SetMember(container, attribute.Name, null);
            return null;
        }

        if (!TryNormalize(attribute, value, out var normalized, out var error))
        {
            return error;
        }

        if (attribute.Mutability == ScimMutability.Immutable && IsPresent(current) && !JsonNode.DeepEquals(current, normalized))
        {
            return ScimError.Mutability($"'{pathText}' is immutable and already has a value.");
        }

        if (attribute.MultiValued)
        {
            var list = normalized as JsonArray ?? [];
            if (op == ScimPatchOp.Replace)
            {
                SetMember(container!, attribute.Name, list);
                KeepOnePrimary(attribute, list, LastPrimary(list));
                return null;
            }

            if (current is not JsonArray existing)
            {
                existing = [];
                SetMember(container!, attribute.Name, existing);
            }

            // add: append what is not there yet (RFC 7644 §3.5.2.1: an existing value is no change).
            // Canonical JSON text as the key keeps this linear for large adds.
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var element in existing)
            {
                seen.Add(element?.ToJsonString() ?? "null");
            }

            foreach (var item in list.ToList())
            {
                if (seen.Add(item?.ToJsonString() ?? "null"))
                {
                    var added = item!.DeepClone();
                    existing.Add(added);
                    if (IsPrimary(added))
                    {
                        KeepOnePrimary(attribute, existing, added);
                    }
                }
            }

            return null;
        }

        if (attribute.Type == ScimAttributeType.Complex && current is JsonObject existingObject && normalized is JsonObject update)
        {
            // Sub-attributes not named in the value stay as they are (RFC 7644 §3.5.2.3).
            foreach (var (key, sub) in update.ToList())
            {
                SetMember(existingObject, key, sub);
            }

            return null;
        }

        SetMember(container!, attribute.Name, normalized);
        return null;
    }

    private static ScimError? ApplySubAttribute(ScimPatchOp op, ScimAttribute parent, ScimAttribute sub, JsonObject? container, JsonNode? value, string pathText)
    {
        if (parent.MultiValued)
        {
            // Which email's "value"? A value filter says; without one the path is ambiguous.
            return ScimError.InvalidPath($"'{pathText}' names a sub-attribute of the multi-valued '{parent.Name}': select the values with a filter, e.g. {parent.Name}[type eq \"work\"].{sub.Name}.");
        }

        var current = container is null ? null : Member(container, parent.Name) as JsonObject;
        if (op == ScimPatchOp.Remove)
        {
            if (current is null || Member(current, sub.Name) is null)
            {
                return null;
            }

            if (sub.Required)
            {
                return ScimError.Mutability($"'{pathText}' is required and cannot be removed.");
            }

            SetMember(current, sub.Name, null);
            return null;
        }

        if (!TryNormalize(sub, value, out var normalized, out var error))
        {
            return error;
        }

        if (current is null)
        {
            current = [];
            SetMember(container!, parent.Name, current);
        }

        if (sub.Mutability == ScimMutability.Immutable && IsPresent(Member(current, sub.Name)) && !JsonNode.DeepEquals(Member(current, sub.Name), normalized))
        {
            return ScimError.Mutability($"'{pathText}' is immutable and already has a value.");
        }

        SetMember(current, sub.Name, normalized);
        return null;
    }

    private static ScimError? ApplyFiltered(ScimPatchOp op, ScimPatchPath path, JsonObject? container, JsonNode? value, string pathText)
    {
        var attribute = path.Attribute!;
        var node = container is null ? null : Member(container, attribute.Name);
        var elements = node switch
        {
            JsonArray array => array.OfType<JsonObject>().ToList(),
            JsonObject single => [single],
            _ => [],
        };
        var matching = elements.Where(e => JsonElementFilter.Matches(path.Filter!, e)).ToList();
        var sub = path.SubAttribute;
        if (matching.Count == 0)
        {
            // Entra ID: add/replace on emails[type eq "work"].value with no work email creates one.
            if (op != ScimPatchOp.Remove && sub is not null && attribute.MultiValued && TryEqualities(path.Filter!, out var equalities))
            {
                if (!TryNormalize(sub, value, out var created, out var createError))
                {
                    return createError;
                }

                var element = new JsonObject();
                foreach (var (equalitySub, literal) in equalities)
                {
                    element[equalitySub.Name] = literal;
                }

                element[sub.Name] = created;
                if (node is not JsonArray list)
                {
                    list = [];
                    SetMember(container!, attribute.Name, list);
                }

                list.Add(element);
                if (IsPrimary(element))
                {
                    KeepOnePrimary(attribute, list, element);
                }

                return null;
            }

            return ScimError.NoTarget($"No value of '{attribute.Name}' matches '{pathText}'.");
        }

        if (op == ScimPatchOp.Remove)
        {
            foreach (var element in matching)
            {
                if (sub is null)
                {
                    if (node is JsonArray array)
                    {
                        array.Remove(element);
                    }
                    else
                    {
                        SetMember(container!, attribute.Name, null);
                    }
                }
                else if (sub.Required)
                {
                    return ScimError.Mutability($"'{pathText}' is required and cannot be removed.");
                }
                else
                {
                    SetMember(element, sub.Name, null);
                }
            }

            return null;
        }

        if (sub is not null)
        {
            if (!TryNormalize(sub, value, out var normalizedSub, out var subError))
            {
                return subError;
            }

            foreach (var element in matching)
            {
                if (sub.Mutability == ScimMutability.Immutable && IsPresent(Member(element, sub.Name)) && !JsonNode.DeepEquals(Member(element, sub.Name), normalizedSub))
                {
                    return ScimError.Mutability($"'{pathText}' is immutable and already has a value.");
                }

                SetMember(element, sub.Name, normalizedSub?.DeepClone());
                if (sub.Name == "primary" && IsPrimary(element) && node is JsonArray array)
                {
                    KeepOnePrimary(attribute, array, element);
                }
            }

            return null;
        }

        // A whole element: replace swaps matching elements for the value; add merges into them.
        if (!TryNormalizeElement(attribute, value, out var replacement, out var error))
        {
            return error;
        }

        foreach (var element in matching)
        {
            if (op == ScimPatchOp.Replace)
            {
                foreach (var key in element.Select(p => p.Key).ToList())
                {
                    element.Remove(key);
                }
            }

            foreach (var (key, member) in replacement)
            {
                SetMember(element, key, member?.DeepClone());
            }

            if (IsPrimary(element) && node is JsonArray array)
            {
                KeepOnePrimary(attribute, array, element);
            }
        }

        return null;
    }

    private ScimError? ApplyToExtension(PatchState state, ScimPatchOp op, ScimSchemaExtension extension, JsonNode? value, string pathText)
    {
        var block = Member(state.Document, extension.Schema.Id);
        if (op == ScimPatchOp.Remove)
        {
            foreach (var attribute in extension.Schema.Attributes)
            {
                if (attribute.Required && block is JsonObject present && Member(present, attribute.Name) is not null)
                {
                    return ScimError.Mutability($"'{pathText}' has the required attribute '{attribute.Name}'.");
                }
            }

            SetMember(state.Document, extension.Schema.Id, null);
            return null;
        }

        if (value is not JsonObject members)
        {
            return ScimError.InvalidValue($"'{pathText}' needs an object value.");
        }

        foreach (var (key, member) in members)
        {
            var attribute = extension.Schema.FindAttribute(key);
            if (attribute is null)
            {
                continue;
            }

            var error = ApplyAt(state, member is null ? ScimPatchOp.Remove : op, ScimPatchPath.ForAttribute(attribute), member, extension.Schema.Id + ":" + attribute.Name);
            if (error is not null)
            {
                return error;
            }
        }

        return null;
    }

    // Group.members: never loaded; operations become a delta (DESIGN-NOTES §4).
    private static ScimError? ApplyDelta(PatchState state, ScimPatchOp op, ScimPatchPath path, JsonNode? value, string pathText)
    {
        var attribute = path.Attribute!;
        if (attribute.Parent is not null || path.SubAttribute is not null)
        {
            var sub = path.SubAttribute ?? attribute;
            return sub.Mutability == ScimMutability.ReadOnly
                ? ScimError.Mutability($"'{pathText}' is readOnly.")
                : ScimError.InvalidPath($"'{pathText}': members are added and removed whole; their sub-attributes cannot be patched.");
        }

        if (path.Filter is not null)
        {
            if (op != ScimPatchOp.Remove)
            {
                return ScimError.InvalidPath($"'{pathText}': a member filter can only be used to remove members.");
            }

            if (!TryMemberIds(path.Filter, out var ids))
            {
                return ScimError.InvalidFilter($"'{pathText}': members can only be selected by 'value eq \"id\"' (joined with 'or').");
            }

            foreach (var id in ids)
            {
                state.Remove(id);
            }

            return null;
        }

        if (op == ScimPatchOp.Remove && value is null)
        {
            state.RemoveAll();
            return null;
        }

        if (!TryNormalize(attribute, value, out var normalized, out var error))
        {
            return error;
        }

        var items = normalized as JsonArray ?? [];
        if (op == ScimPatchOp.Replace)
        {
            // Okta's group push: "replace members []" empties the group.
            state.RemoveAll();
        }

        foreach (var item in items)
        {
            if (item is not JsonObject member || Member(member, "value") is not JsonValue idValue || !idValue.TryGetValue(out string? id) || id.Length == 0)
            {
                return ScimError.InvalidValue($"Every value of '{pathText}' needs a non-empty 'value' (the member's id).");
            }

            if (op == ScimPatchOp.Remove)
            {
                state.Remove(id);
            }
            else
            {
                state.Add(id, member);
            }
        }

        return null;
    }

    // members[value eq "a" or value eq "b"] → a, b.
    private static bool TryMemberIds(FilterNode filter, out List<string> ids)
    {
        ids = [];
        return Collect(filter, ids);

        static bool Collect(FilterNode node, List<string> ids)
        {
            switch (node)
            {
                case FilterOr or:
                    return Collect(or.Left, ids) && Collect(or.Right, ids);
                case FilterComparison { Operator: FilterOperator.Eq, Attribute.Name: "value", Value.Kind: ScimValueKind.String } comparison:
                    ids.Add(comparison.Value.String);
                    return true;
                default:
                    return false;
            }
        }
    }

    // type eq "work" (and primary eq true …): the values a created element gets.
    private static bool TryEqualities(FilterNode filter, out List<(ScimAttribute Sub, JsonNode? Literal)> equalities)
    {
        equalities = [];
        return Collect(filter, equalities);

        static bool Collect(FilterNode node, List<(ScimAttribute, JsonNode?)> equalities)
        {
            switch (node)
            {
                case FilterAnd and:
                    return Collect(and.Left, equalities) && Collect(and.Right, equalities);
                case FilterComparison { Operator: FilterOperator.Eq, Value.IsNull: false } comparison:
                    equalities.Add((comparison.Attribute, ToJson(comparison.Value)));
                    return true;
                default:
                    return false;
            }
        }
    }

    private static JsonNode? ToJson(in ScimValue value) => value.Kind switch
    {
        ScimValueKind.String => JsonValue.Create(value.String),
        ScimValueKind.Boolean => JsonValue.Create(value.Boolean),
        ScimValueKind.Integer => JsonValue.Create(value.Integer),
        ScimValueKind.Decimal => JsonValue.Create(value.Decimal),
        ScimValueKind.DateTime => JsonValue.Create(new DateTimeOffset(value.UtcTicks, TimeSpan.Zero).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", CultureInfo.InvariantCulture)),
        _ => null,
    };

    private static ScimError? RemoveListed(ScimAttribute attribute, JsonObject container, JsonNode value, string pathText)
    {
        if (Member(container, attribute.Name) is not JsonArray existing)
        {
            return null;
        }

        var listed = value as JsonArray ?? [value.DeepClone()];
        var valueSub = attribute.FindSubAttribute("value");
        var wanted = new HashSet<string>(valueSub?.CaseExact ?? attribute.CaseExact ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);
        foreach (var item in listed)
        {
            string? text = item is JsonObject obj ? Text(Member(obj, "value")) : Text(item);
            if (text is null)
            {
                return ScimError.InvalidValue($"The values to remove from '{pathText}' need a 'value'.");
            }

            wanted.Add(text);
        }

        foreach (var element in existing.ToList())
        {
            string? actual = element is JsonObject e ? Text(Member(e, "value")) : Text(element);
            if (actual is not null && wanted.Contains(actual))
            {
                existing.Remove(element);
            }
        }

        return null;
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    // The value in the attribute's canonical shape: canonical member names, unknown and readOnly
    // sub-attributes dropped, a single value for a multi-valued attribute wrapped in an array.
    private static bool TryNormalize(ScimAttribute attribute, JsonNode? value, out JsonNode? normalized, [NotNullWhen(false)] out ScimError? error)
    {
        error = null;
        normalized = null;
        if (value is null)
        {
            return true;
        }

        if (attribute.MultiValued)
        {
            var array = new JsonArray();
            foreach (var item in value is JsonArray list ? [.. list] : new JsonNode?[] { value })
            {
                if (item is null)
                {
                    continue;
                }

                if (attribute.Type == ScimAttributeType.Complex)
                {
                    if (!TryNormalizeElement(attribute, item, out var element, out error))
                    {
                        return false;
                    }

                    array.Add(element);
                }
                else
                {
                    array.Add(item.DeepClone());
                }
            }

            normalized = array;
            return true;
        }

        if (attribute.Type == ScimAttributeType.Complex)
        {
            // Entra's legacy manager form: "value":[{"value":"9a4d7e21"}] for a singular attribute.
            if (value is JsonArray { Count: 1 } single)
            {
                value = single[0];
            }

            if (!TryNormalizeElement(attribute, value, out var element, out error))
            {
                return false;
            }

            normalized = element;
            return true;
        }

        normalized = value.DeepClone();
        return true;
    }

    private static bool TryNormalizeElement(ScimAttribute attribute, JsonNode? value, out JsonObject element, [NotNullWhen(false)] out ScimError? error)
    {
        element = [];
        error = null;
        if (value is JsonValue scalar && attribute.FindSubAttribute("value") is { } valueSub)
        {
            // A bare value for a complex attribute is its "value" (Entra sends manager this way).
            element[valueSub.Name] = scalar.DeepClone();
            return true;
        }

        if (value is not JsonObject obj)
        {
            error = ScimError.InvalidValue($"A value of '{attribute.Name}' must be an object.");
            return false;
        }

        foreach (var (key, member) in obj)
        {
            var sub = attribute.FindSubAttribute(key);
            if (sub is null || member is null || sub.Mutability == ScimMutability.ReadOnly)
            {
                // Unknown and readOnly sub-attributes are ignored, as the reader ignores them on create.
                continue;
            }

            element[sub.Name] = member.DeepClone();
        }

        return true;
    }

    // Core and common attributes live at the top of the document; extension attributes in their block.
    private JsonObject? Container(JsonObject document, ScimAttribute top, bool create)
    {
        if (top.SchemaId.Equals(_resourceType.Schema.Id, StringComparison.OrdinalIgnoreCase))
        {
            return document;
        }

        if (Member(document, top.SchemaId) is JsonObject block)
        {
            return block;
        }

        if (!create)
        {
            return null;
        }

        block = [];
        document[top.SchemaId] = block;
        return block;
    }

    private static bool IsPresent(JsonNode? node) => node switch
    {
        null => false,
        JsonArray array => array.Count > 0,
        JsonObject obj => obj.Count > 0,
        _ => true,
    };

    private static bool IsPrimary(JsonNode? element) =>
        element is JsonObject obj && Member(obj, "primary") is JsonValue v
        && ((v.TryGetValue(out bool b) && b) || (v.TryGetValue(out string? s) && s.Equals("true", StringComparison.OrdinalIgnoreCase)));

    private static JsonNode? LastPrimary(JsonArray list) => list.LastOrDefault(IsPrimary);

    // RFC 7643 §2.4: "primary" true appears at most once; the value just set wins.
    private static void KeepOnePrimary(ScimAttribute attribute, JsonArray list, JsonNode? winner)
    {
        if (winner is null || attribute.FindSubAttribute("primary") is null)
        {
            return;
        }

        foreach (var element in list)
        {
            if (!ReferenceEquals(element, winner) && IsPrimary(element))
            {
                element!.AsObject()["primary"] = false;
            }
        }
    }

    private static JsonNode? Member(JsonObject obj, string name) => ScimPatchRequest.Member(obj, name);

    // Sets (or with null removes) a member, replacing one whose name differs only in case.
    private static void SetMember(JsonObject obj, string name, JsonNode? value)
    {
        foreach (var key in obj.Select(p => p.Key).ToList())
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                obj.Remove(key);
            }
        }

        if (value is not null)
        {
            // A node has one parent: move a copy, never the caller's node.
            obj[name] = value.Parent is null ? value : value.DeepClone();
        }
    }

    // Empty complex values and extension blocks are "unassigned" (RFC 7643 §2.5).
    private static void Prune(JsonObject document)
    {
        foreach (var (key, value) in document.ToList())
        {
            if (value is JsonObject obj)
            {
                Prune(obj);
                if (obj.Count == 0)
                {
                    document.Remove(key);
                }
            }
            else if (value is JsonArray array)
            {
                foreach (var item in array.ToList())
                {
                    if (item is JsonObject element)
                    {
                        Prune(element);
                        if (element.Count == 0)
                        {
                            array.Remove(element);
                        }
                    }
                }

                if (array.Count == 0)
                {
                    document.Remove(key);
                }
            }
        }
    }

    private static string OpName(ScimPatchOp op) => op switch
    {
        ScimPatchOp.Add => "add",
        ScimPatchOp.Remove => "remove",
        _ => "replace",
    };

    private sealed class PatchState(JsonObject document, ScimMemberDelta delta)
    {
        private readonly Dictionary<string, JsonObject?> _members = new(StringComparer.Ordinal);

        public JsonObject Document { get; } = document;

        public ScimMemberDelta Delta { get; } = delta;

        public void Add(string id, JsonObject member) => _members[id] = member;

        public void Remove(string id) => _members[id] = null;

        public void RemoveAll()
        {
            Delta.RemoveAll = true;
            _members.Clear();
        }

        // Operations apply in order: the last word on each member id is what the delta says.
        public void FinishDelta()
        {
            foreach (var (id, member) in _members)
            {
                if (member is null)
                {
                    Delta.Removed.Add(id);
                }
                else
                {
                    Delta.Added.Add((JsonObject)member.DeepClone());
                }
            }
        }
    }
}
