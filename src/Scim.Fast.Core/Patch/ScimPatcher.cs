using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Patch;

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
public sealed partial class ScimPatcher<TResource>
    where TResource : class, IScimResource
{
    private static readonly ScimReadOptions s_readBack = new() { IgnoreReadOnly = false, RequireSchemas = false };

    private readonly ScimResourceSerializer<TResource> _serializer;
    private readonly ScimResourceType _resourceType;
    private readonly ScimAttribute? _deltaAttribute;
    private readonly ScimResourceEditor<TResource>? _editor;

    /// <param name="serializer">The resource type's generated serializer.</param>
    /// <param name="deltaAttribute">Top-level attribute managed as deltas (e.g. "members"), or null.</param>
    public ScimPatcher(ScimResourceSerializer<TResource> serializer, string? deltaAttribute = null)
    {
        _serializer = serializer;
        _resourceType = serializer.ResourceType;
        _editor = serializer.Editor;
        _deltaAttribute = deltaAttribute is null ? null : _resourceType.ResolvePath(deltaAttribute)
            ?? throw new ArgumentException($"'{deltaAttribute}' is not an attribute of {_resourceType.Name}.", nameof(deltaAttribute));
    }

    /// <summary>False sends every request through the JSON engine (tests compare the two paths).</summary>
    internal bool UseTypedPath { get; init; } = true;

    public bool TryApply(
        TResource resource,
        ScimPatchRequest request,
        [NotNullWhen(true)] out ScimPatchResult<TResource>? result,
        [NotNullWhen(false)] out ScimError? error)
    {
        if (UseTypedPath && _editor is not null && TryApplyTyped(resource, request, out result))
        {
            error = null;
            return true;
        }

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
