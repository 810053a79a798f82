using System.Buffers;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// /Groups (RFC 7643 §4.2): displayName unique (Entra ID expects 409 on a duplicate); members kept
/// by the store as pairs (DESIGN-NOTES §4), changed by deltas and never rewritten whole.
/// </summary>
internal sealed class GroupEndpoint : ResourceEndpoint<Group>
{
    public GroupEndpoint(IResourceStore store, ScimLimits limits)
        : base(store, GroupSerializer.Instance, GroupAccessor.Instance, GroupIndexes.Catalogue, StoreTypes.Group, limits, deltaAttribute: "members")
    {
        MembersOrdinal = ResourceType.ResolvePath("members")!.Ordinal;
    }

    public int MembersOrdinal { get; }

    protected override void CollectIndexValues(Group resource, ref StoreKeys keys) => GroupIndexes.Collect(resource, ref keys);

    protected override void BeforeStore(Group resource) => resource.Members = null;

    protected override List<string>? TakeMembers(Group resource)
    {
        if (resource.Members is not { } members)
        {
            return null;
        }

        var ids = new List<string>(members.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in members)
        {
            // An empty value is caught by the membership check as "not the id of a User or Group".
            if (seen.Add(member.Value ?? ""))
            {
                ids.Add(member.Value ?? "");
            }
        }

        resource.Members = null;
        return ids;
    }

    protected override MemberChange? ReplacementMembers(ScimScope scope, string id, List<string>? members)
    {
        bool hasMembers = Store.MemberCount(scope.Tenant, id) > 0;
        return !hasMembers && members is not { Count: > 0 } ? null : new MemberChange(hasMembers, members ?? [], []);
    }

    // The id indexes answer for all the members at once, from memory (embedded store) or in one
    // command (Redis): an initial sync's groups name a million members, and reading each one's
    // record to see that it exists went to disk for most of them. While the indexes load after a
    // start, each member's record is read as before.
    protected override bool[] MembersExist(ScimScope scope, IReadOnlyList<string> ids)
    {
        var exist = new bool[ids.Count];
        MarkHeld(scope, StoreTypes.User, UserIndexes.Catalogue.ById, ids, exist);
        MarkHeld(scope, StoreTypes.Group, GroupIndexes.Catalogue.ById, ids, exist);
        return exist;
    }

    // One id (a member's type in a response), asked as MembersExist asks.
    private bool IsResource(ScimScope scope, byte type, ScimIndex byId, string id) => Store.OrderedIndexesLoaded
        ? ResourceStore.IsValidId(id) && Store.OrderedContains(scope.Tenant, type, byId.Number, byId.KeyOf(ScimValue.From(id)), id)
        : Store.Exists(scope.Tenant, type, id);

    // Marks the ids not marked yet that the type holds: from its id index once the indexes are
    // loaded, else (just after a start) from each one's record.
    private void MarkHeld(ScimScope scope, byte type, ScimIndex byId, IReadOnlyList<string> ids, bool[] exist)
    {
        if (!Store.OrderedIndexesLoaded)
        {
            for (int i = 0; i < ids.Count; i++)
            {
                exist[i] = exist[i] || Store.Exists(scope.Tenant, type, ids[i]);
            }

            return;
        }

        var entries = new List<(string Key, string Id)>(ids.Count);
        var positions = new List<int>(ids.Count);
        for (int i = 0; i < ids.Count; i++)
        {
            if (!exist[i] && ResourceStore.IsValidId(ids[i]))
            {
                entries.Add((byId.KeyOf(ScimValue.From(ids[i])), ids[i]));
                positions.Add(i);
            }
        }

        if (entries.Count == 0)
        {
            return;
        }

        var held = Store.OrderedContainsEach(scope.Tenant, type, byId.Number, entries);
        for (int j = 0; j < held.Length; j++)
        {
            exist[positions[j]] |= held[j];
        }
    }

    protected override async ValueTask<ScimError?> ChangeMembersAsync(ScimScope scope, string id, bool replaceAll, IReadOnlyList<string> added, IReadOnlyList<string> removed, CancellationToken cancellationToken)
    {
        if (!replaceAll && added.Count == 0 && removed.Count == 0)
        {
            return null;
        }

        if (replaceAll && added.Count == 0 && Store.MemberCount(scope.Tenant, id) == 0)
        {
            return null;
        }

        foreach (var member in removed)
        {
            if (member.Length == 0 || member.Length > ResourceStore.MaxKeyBytes || member.Contains('\0', StringComparison.Ordinal))
            {
                return ScimError.InvalidValue($"'{member}' is not a member id.");
            }
        }

        await Store.ChangeMembersAsync(scope.Tenant, id, replaceAll, added, removed, cancellationToken).ConfigureAwait(false);
        return null;
    }

    protected override void Derive(ScimScope scope, Group resource, ScimProjection projection)
    {
        if (projection.Includes(MembersOrdinal))
        {
            FillMembers(scope, resource);
        }
    }

    // Members are held in member pages, not in the group's stored JSON.
    protected override bool InStoredJson(ScimAttribute attribute) => (attribute.Parent ?? attribute).Ordinal != MembersOrdinal;

    protected override void DeriveForFilter(ScimScope scope, Group resource, FilterNode filter)
    {
        if (!FilterPaths.Mentions(filter, "members"))
        {
            return;
        }

        // The common case, members.value eq "id" (or members[value eq "id"], joined by and/or):
        // only those ids matter, so ask the membership index about each instead of loading a
        // member list that may hold a million ids.
        var ids = new List<string>();
        if (FilterPaths.MemberValueLiterals(filter, ids))
        {
            var present = new List<Group.MembersValue>(ids.Count);
            foreach (var id in ids)
            {
                if (Store.IsMember(scope.Tenant, resource.Id!, id))
                {
                    present.Add(new Group.MembersValue { Value = id });
                }
            }

            resource.Members = present;
            return;
        }

        FillMembers(scope, resource);
    }

    protected override async ValueTask OnDeletingAsync(ScimScope scope, string id, CancellationToken cancellationToken)
    {
        if (Store.MemberCount(scope.Tenant, id) > 0)
        {
            await Store.ChangeMembersAsync(scope.Tenant, id, removeAll: true, [], [], cancellationToken).ConfigureAwait(false);
        }

        await Store.RemoveFromAllGroupsAsync(scope.Tenant, id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One member as it appears in a response: value, $ref and type (RFC 7643 §4.2).</summary>
    public Group.MembersValue Member(ScimScope scope, string memberId)
    {
        bool isUser = IsResource(scope, StoreTypes.User, UserIndexes.Catalogue.ById, memberId);
        string endpoint = isUser ? "/Users/" : "/Groups/";
        return new Group.MembersValue
        {
            Value = memberId,
            Ref = scope.BaseUrl + endpoint + Uri.EscapeDataString(memberId),
            Type = isUser ? "User" : "Group",
        };
    }

    // A group PATCH answers 204 unless the client asked for attributes (RFC 7644 §3.5.2): the member
    // list can hold a million ids, and neither Entra ID nor Okta reads it.
    protected override bool AnswerPatchWithBody => false;

    /// <summary>
    /// One group: the group without members through the generated writer, then the members streamed
    /// page by page from the store, flushing as it goes, so a million-member group never sits in
    /// memory as objects or as one buffer.
    /// </summary>
    protected override async Task WriteResourceAsync(HttpContext context, ScimScope scope, Group resource, long version, int status, ScimProjection projection)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = ScimResponses.MediaType;
        response.Headers.ETag = ETags.Format(version);
        resource.Members = null;
        if (!projection.Includes(MembersOrdinal))
        {
            Serializer.Write(response.BodyWriter, resource, projection);
            await response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            return;
        }

        var head = new ArrayBufferWriter<byte>(512);
        Serializer.Write(head, resource, projection);
        // Reopen the object: everything but its closing brace, then "members".
        response.BodyWriter.Write(head.WrittenSpan[..^1]);
        response.BodyWriter.Write(",\"members\":["u8);
        await StreamMembersAsync(context, scope, resource.Id!, MemberSelection(projection)).ConfigureAwait(false);
    }

    // attributes=members[value eq "…"] (or in excludedAttributes): the test each streamed member
    // passes, evaluated on a one-member group. Null when the projection narrows no members.
    private Func<Group.MembersValue, bool>? MemberSelection(ScimProjection projection)
    {
        Func<Group.MembersValue, bool>? test = null;
        foreach (var selection in projection.Selections)
        {
            if (selection.Attribute.Ordinal != MembersOrdinal)
            {
                continue;
            }

            var inner = CompiledFilter<Group>.Compile(selection.Filter.Inner, Accessor);
            bool keep = selection.Keep;
            var previous = test;
            test = member =>
                (previous is null || previous(member))
                && inner.MatchesElement(new Group { Members = [member] }, 0) == keep;
        }

        return test;
    }

    protected override bool ListsFromStoredBytes => false;

    /// <summary>
    /// A page of groups with their members: each group's attributes through the generated writer,
    /// then its members streamed from the store with periodic flushes, as GET /Groups/{id} does, so
    /// a page holding a million-member group never holds the member list in memory.
    /// </summary>
    protected override async Task WriteListAsync(HttpContext context, ScimScope scope, ListPage<Group> page, ScimProjection projection)
    {
        if (!projection.Includes(MembersOrdinal))
        {
            await base.WriteListAsync(context, scope, page, projection).ConfigureAwait(false);
            return;
        }

        var output = context.Response.BodyWriter;
        var head = new ScimJsonWriter(output);
        ListResponseWriter.WriteHead(ref head, page.TotalResults, page.Resources.Count, page.StartIndex, page.NextCursor);
        head.Flush();
        await WriteResourcesAsync(context, scope, page.Resources, projection, continuesList: false).ConfigureAwait(false);
        output.Write("]}"u8);
        await output.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    // Groups as list items (this type's lists and its part of a root /.search): each group's
    // attributes through the generated writer, then its members streamed.
    protected override async Task WriteResourcesAsync(HttpContext context, ScimScope scope, List<Group> resources, ScimProjection projection, bool continuesList)
    {
        if (!projection.Includes(MembersOrdinal))
        {
            await base.WriteResourcesAsync(context, scope, resources, projection, continuesList).ConfigureAwait(false);
            return;
        }

        var output = context.Response.BodyWriter;
        var selection = MemberSelection(projection);
        var buffer = new ArrayBufferWriter<byte>(512);
        for (int i = 0; i < resources.Count; i++)
        {
            var group = resources[i];
            group.Members = null;
            Narrow(group, projection);
            buffer.ResetWrittenCount();
            Serializer.Write(buffer, group, projection);
            if (i > 0 || continuesList)
            {
                output.Write(","u8);
            }

            // Reopen the object: everything but its closing brace, then "members", streamed.
            output.Write(buffer.WrittenSpan[..^1]);
            output.Write(",\"members\":["u8);
            await StreamMembersAsync(context, scope, group.Id!, selection).ConfigureAwait(false);
        }
    }

    // A created group's answer in one buffer (an Idempotency-Key record): its members are the ones
    // the request named, all of them applied with the group.
    protected override void RenderCreated(IBufferWriter<byte> output, ScimScope scope, Group resource, List<string>? members, ScimProjection projection)
    {
        resource.Members = projection.Includes(MembersOrdinal) && members is { Count: > 0 } ? members.ConvertAll(id => Member(scope, id)) : null;
        Narrow(resource, projection);
        Serializer.Write(output, resource, projection);
        resource.Members = null;
    }

    // The stored-bytes read path: the group as stored (meta completed), then the members streamed.
    protected override Task WriteStoredAsync(HttpContext context, ScimScope scope, string id, ReadOnlySpan<byte> body, long version, object? derived)
    {
        var writer = new ScimJsonWriter(context.Response.BodyWriter);
        WriteStoredHead(ref writer, scope, id, body, version);
        writer.WriteName("\"members\":["u8);
        writer.Flush();
        return StreamMembersAsync(context, scope, id, selection: null);
    }

    private async Task StreamMembersAsync(HttpContext context, ScimScope scope, string id, Func<Group.MembersValue, bool>? selection)
    {
        var output = context.Response.BodyWriter;
        int written = 0;
        await foreach (var memberId in Store.GetMembersAsync(scope.Tenant, id, context.RequestAborted).ConfigureAwait(false))
        {
            var member = Member(scope, memberId);
            if (selection is not null && !selection(member))
            {
                continue;
            }

            WriteMember(output, member, written > 0);
            if (++written % 1024 == 0)
            {
                await output.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            }
        }

        output.Write("]}"u8);
        await output.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    // Members on the stored-bytes path of a list (one group of a lookup): written in place.
    protected override void WriteDerivedRaw(ref ScimJsonWriter writer, ScimScope scope, string id, object? derived)
    {
        writer.WriteName("\"members\":"u8);
        writer.WriteStartArray();
        foreach (var memberId in Store.GetMembers(scope.Tenant, id))
        {
            WriteMemberObject(ref writer, Member(scope, memberId));
        }

        writer.WriteEndArray();
    }

    private static void WriteMember(IBufferWriter<byte> output, Group.MembersValue member, bool comma)
    {
        var writer = new ScimJsonWriter(output, continuesList: comma);
        WriteMemberObject(ref writer, member);
        writer.Flush();
    }

    private static void WriteMemberObject(ref ScimJsonWriter writer, Group.MembersValue member)
    {
        writer.WriteStartObject();
        writer.WriteName("\"value\":"u8);
        writer.WriteString(member.Value!);
        writer.WriteName("\"$ref\":"u8);
        writer.WriteString(member.Ref!);
        writer.WriteName("\"type\":"u8);
        writer.WriteString(member.Type!);
        writer.WriteEndObject();
    }

    private void FillMembers(ScimScope scope, Group resource)
    {
        var members = new List<Group.MembersValue>();
        foreach (var memberId in Store.GetMembers(scope.Tenant, resource.Id!))
        {
            members.Add(Member(scope, memberId));
        }

        resource.Members = members;
    }
}
