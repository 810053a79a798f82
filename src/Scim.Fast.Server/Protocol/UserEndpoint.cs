using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>The store's numbers for resource types (part of every stored key).</summary>
internal static class StoreTypes
{
    public const byte User = 1;
    public const byte Group = 2;
}

/// <summary>/Users (RFC 7643 §4.1): userName unique and case-insensitive; groups derived from memberships.</summary>
internal sealed class UserEndpoint : ResourceEndpoint<User>
{
    private readonly int _groupsOrdinal;

    public UserEndpoint(IResourceStore store, ScimLimits limits)
        : base(store, UserSerializer.Instance, UserAccessor.Instance, UserIndexes.Catalogue, StoreTypes.User, limits, deltaAttribute: null)
    {
        _groupsOrdinal = ResourceType.ResolvePath("groups")!.Ordinal;
    }

    protected override void CollectIndexValues(User resource, ref StoreKeys keys) => UserIndexes.Collect(resource, ref keys);

    // Never stored: password is writeOnly/returned never and this server does not authenticate users
    // (RFC 7643 §4.1.1 allows not keeping it); groups is derived (§4.1.2).
    protected override bool IsActive(User resource) => resource.Active == true;

    protected override void BeforeStore(User resource)
    {
        resource.Password = null;
        resource.Groups = null;
    }

    protected override void Derive(ScimScope scope, User resource, ScimProjection projection)
    {
        if (projection.Includes(_groupsOrdinal))
        {
            FillGroups(scope, resource);
        }
    }

    protected override void DeriveForFilter(ScimScope scope, User resource, FilterNode filter)
    {
        if (FilterPaths.Mentions(filter, "groups"))
        {
            FillGroups(scope, resource);
        }
    }

    protected override async ValueTask OnDeletingAsync(ScimScope scope, string id, CancellationToken cancellationToken) =>
        await Store.RemoveFromAllGroupsAsync(scope.Tenant, id, cancellationToken).ConfigureAwait(false);

    // User.groups for the stored-bytes read path: the group list and each group's display name are
    // awaited when on disk (a small read cache evicts the group records too: they were read
    // synchronously here, one blocked pool thread per cold group).
    protected override ValueTask<object?> LoadDerivedAsync(ScimScope scope, string id)
    {
        var list = Store.GetGroupsOfAsync(scope.Tenant, id);
        return list.IsCompletedSuccessfully ? GroupsOfAsync(scope, list.Result) : AwaitListAsync(list, scope);

        async ValueTask<object?> AwaitListAsync(ValueTask<IReadOnlyList<string>> list, ScimScope scope) =>
            await GroupsOfAsync(scope, await list.ConfigureAwait(false)).ConfigureAwait(false);
    }

    protected override object? LoadDerived(ScimScope scope, string id) => GroupsOf(scope, id);

    private ValueTask<object?> GroupsOfAsync(ScimScope scope, IReadOnlyList<string> groupIds)
    {
        if (groupIds.Count == 0)
        {
            return default;
        }

        var groups = new List<User.GroupsValue>(groupIds.Count);
        for (int i = 0; i < groupIds.Count; i++)
        {
            var display = Store.GetUniqueKeyAsync(scope.Tenant, StoreTypes.Group, groupIds[i]);
            if (!display.IsCompletedSuccessfully)
            {
                return AwaitRestAsync(scope, groupIds, groups, display);
            }

            groups.Add(GroupValue(scope, groupIds[i], display.Result));
        }

        return new(groups);

        async ValueTask<object?> AwaitRestAsync(ScimScope scope, IReadOnlyList<string> groupIds, List<User.GroupsValue> groups, ValueTask<string?> pending)
        {
            groups.Add(GroupValue(scope, groupIds[groups.Count], await pending.ConfigureAwait(false)));
            while (groups.Count < groupIds.Count)
            {
                string groupId = groupIds[groups.Count];
                groups.Add(GroupValue(scope, groupId, await Store.GetUniqueKeyAsync(scope.Tenant, StoreTypes.Group, groupId).ConfigureAwait(false)));
            }

            return groups;
        }
    }

    // User.groups on the stored-bytes read path: written straight from what LoadDerived(Async) read.
    protected override void WriteDerivedRaw(ref ScimJsonWriter writer, ScimScope scope, string id, object? derived)
    {
        if (derived is not List<User.GroupsValue> groups)
        {
            return;
        }

        writer.WriteName("\"groups\":"u8);
        writer.WriteStartArray();
        foreach (var group in groups)
        {
            writer.WriteStartObject();
            writer.WriteName("\"value\":"u8);
            writer.WriteString(group.Value!);
            writer.WriteName("\"$ref\":"u8);
            writer.WriteString(group.Ref!);
            if (group.Display is { } display)
            {
                writer.WriteName("\"display\":"u8);
                writer.WriteString(display);
            }

            writer.WriteName("\"type\":"u8);
            writer.WriteString(group.Type!);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    private void FillGroups(ScimScope scope, User resource) => resource.Groups = GroupsOf(scope, resource.Id!);

    // The groups a user is a direct member of (RFC 7643 §4.1.2), or null for none.
    private List<User.GroupsValue>? GroupsOf(ScimScope scope, string id)
    {
        var groupIds = Store.GetGroupsOf(scope.Tenant, id);
        if (groupIds.Count == 0)
        {
            return null;
        }

        var groups = new List<User.GroupsValue>(groupIds.Count);
        foreach (var groupId in groupIds)
        {
            groups.Add(GroupValue(scope, groupId, Store.Get(scope.Tenant, StoreTypes.Group, groupId)?.UniqueKey));
        }

        return groups;
    }

    private static User.GroupsValue GroupValue(ScimScope scope, string groupId, string? display) => new()
    {
        Value = groupId,
        Ref = scope.BaseUrl + "/Groups/" + Uri.EscapeDataString(groupId),
        Display = display,
        Type = "direct",
    };
}

/// <summary>Small helpers over filter trees and sort paths.</summary>
internal static class FilterPaths
{
    /// <summary>Whether any comparison in the filter names <paramref name="attribute"/> or one of its sub-attributes.</summary>
    public static bool Mentions(FilterNode node, string attribute) => node switch
    {
        FilterAnd and => Mentions(and.Left, attribute) || Mentions(and.Right, attribute),
        FilterOr or => Mentions(or.Left, attribute) || Mentions(or.Right, attribute),
        FilterNot not => Mentions(not.Inner, attribute),
        FilterValuePath valuePath => IsUnder(valuePath.Attribute.Path, attribute) || Mentions(valuePath.Inner, attribute),
        FilterComparison comparison => IsUnder(comparison.Attribute.Path, attribute),
        _ => false,
    };

    /// <summary>
    /// When every comparison on members in the filter is <c>members.value eq "literal"</c> (possibly
    /// as <c>members[value eq "literal"]</c>), collects the literals and returns true: evaluating the
    /// filter then needs only to know which of those ids are members.
    /// </summary>
    public static bool MemberValueLiterals(FilterNode node, List<string> literals) => node switch
    {
        FilterAnd and => MemberValueLiterals(and.Left, literals) && MemberValueLiterals(and.Right, literals),
        FilterOr or => MemberValueLiterals(or.Left, literals) && MemberValueLiterals(or.Right, literals),
        FilterNot not => MemberValueLiterals(not.Inner, literals),
        FilterValuePath valuePath when IsUnder(valuePath.Attribute.Path, "members") => MemberValueLiterals(valuePath.Inner, literals),
        FilterComparison { Attribute.Path: "members.value", Operator: FilterOperator.Eq, Value.Kind: ScimValueKind.String } comparison
            => Add(literals, comparison.Value.String),
        FilterComparison comparison => !IsUnder(comparison.Attribute.Path, "members"),
        _ => false,
    };

    private static bool Add(List<string> literals, string value)
    {
        literals.Add(value);
        return true;
    }

    private static bool IsUnder(string path, string attribute) =>
        path.Equals(attribute, StringComparison.Ordinal) || (path.StartsWith(attribute, StringComparison.Ordinal) && path.Length > attribute.Length && path[attribute.Length] == '.');
}
