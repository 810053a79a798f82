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

    protected override ValueTask PrefetchDerivedAsync(ScimScope scope, string id) => Store.PrefetchGroupsOfAsync(scope.Tenant, id);

    // User.groups on the stored-bytes read path: written straight from the membership index.
    protected override void WriteDerivedRaw(ref ScimJsonWriter writer, ScimScope scope, string id)
    {
        var groups = GroupsOf(scope, id);
        if (groups is null)
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
            groups.Add(new User.GroupsValue
            {
                Value = groupId,
                Ref = scope.BaseUrl + "/Groups/" + Uri.EscapeDataString(groupId),
                Display = Store.Get(scope.Tenant, StoreTypes.Group, groupId)?.UniqueKey,
                Type = "direct",
            });
        }

        return groups;
    }
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
