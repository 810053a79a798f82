using System.Text.Json.Nodes;

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
