namespace Scim.Fast.Storage.Resources;

/// <summary>Group membership: the members of each group and the groups of each member, kept both ways.</summary>
public sealed partial class ResourceStore
{
    /// <summary>The members of a group, page by page.</summary>
    public IEnumerable<string> GetMembers(TenantId tenant, string groupId) => _members.Enumerate(tenant, groupId);

    public long MemberCount(TenantId tenant, string groupId) => _members.Count(tenant, groupId);

    public bool IsMember(TenantId tenant, string groupId, string memberId) => _members.Contains(tenant, groupId, memberId);

    /// <summary>The groups a resource is a direct member of (User.groups, RFC 7643 §4.1.2).</summary>
    public IReadOnlyList<string> GetGroupsOf(TenantId tenant, string memberId) => [.. _groupsOf.Enumerate(tenant, memberId)];

    /// <summary>
    /// Applies a membership delta durably: removeAll first, then removals, then additions. Costs
    /// O(changed members), never O(group size) (except removeAll, which visits every member).
    /// </summary>
    public async ValueTask ChangeMembersAsync(
        TenantId tenant, string groupId, bool removeAll, IReadOnlyList<string> added, IReadOnlyList<string> removed, CancellationToken cancellationToken = default)
    {
        var record = new MembershipRecord(tenant, groupId, removeAll, [.. added], [.. removed]);
        var keys = new List<byte[]> { IndexKey((byte)'H', tenant, 0, groupId) };
        foreach (var member in added.Concat(removed))
        {
            keys.Add(IndexKey((byte)'h', tenant, 0, member));
        }

        ValidateId(groupId);
        foreach (var member in added.Concat(removed))
        {
            ValidateId(member);
        }

        var encoded = record.Encode();
        if (encoded.Length > _log.MaxRecordBytes)
        {
            throw new ArgumentException($"A membership change of {added.Count + removed.Count} ids does not fit in one log record; split it.", nameof(added));
        }

        await EnterWriteAsync().ConfigureAwait(false);
        try
        {
            // A removeAll touches every member's set: take every stripe. Otherwise the stripes of the
            // keys touched, in order (no deadlock), so changes to other groups and members go on.
            int[] stripes = removeAll ? [.. Enumerable.Range(0, _stripes.Length)] : StripesFor(keys);
            var taken = new List<int>(stripes.Length);
            try
            {
                foreach (int stripe in stripes)
                {
                    await _stripes[stripe].WaitAsync(cancellationToken).ConfigureAwait(false);
                    taken.Add(stripe);
                }

                await EnqueueAndApplyAsync(encoded, () => Apply(record), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                foreach (int stripe in taken)
                {
                    _stripes[stripe].Release();
                }
            }
        }
        finally
        {
            ExitWrite();
        }
    }

    /// <summary>Removes a member from every group it is in (deleting a user, RFC 7644 §3.6).</summary>
    public async ValueTask RemoveFromAllGroupsAsync(TenantId tenant, string memberId, CancellationToken cancellationToken = default)
    {
        foreach (var group in GetGroupsOf(tenant, memberId))
        {
            await ChangeMembersAsync(tenant, group, removeAll: false, [], [memberId], cancellationToken).ConfigureAwait(false);
        }
    }

    // Idempotent: adding a present member or removing an absent one changes nothing.
    private void Apply(MembershipRecord record)
    {
        if (record.RemoveAll)
        {
            foreach (var member in _members.Enumerate(record.Tenant, record.GroupId).ToList())
            {
                _members.Remove(record.Tenant, record.GroupId, member);
                _groupsOf.Remove(record.Tenant, member, record.GroupId);
            }
        }

        foreach (var member in record.Removed)
        {
            _members.Remove(record.Tenant, record.GroupId, member);
            _groupsOf.Remove(record.Tenant, member, record.GroupId);
        }

        // The group's set takes the whole batch at once (its pages are the big ones).
        _members.AddMany(record.Tenant, record.GroupId, record.Added);
        foreach (var member in record.Added)
        {
            _groupsOf.Add(record.Tenant, member, record.GroupId);
        }
    }
}
