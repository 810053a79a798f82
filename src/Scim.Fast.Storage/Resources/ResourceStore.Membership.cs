using System.Collections.Concurrent;

namespace Scim.Fast.Storage.Resources;

/// <summary>Group membership: the members of each group and the groups of each member, kept both ways.</summary>
public sealed partial class ResourceStore
{
    // Pages of former members detached per lock acquisition (64 ids a page).
    private const int DetachPagesPerChunk = 4;

    // Groups whose removeAll is detaching former members, with how many are running.
    private readonly ConcurrentDictionary<(uint Tenant, string Group), int> _detaching = new();

    /// <summary>The members of a group, page by page.</summary>
    public IEnumerable<string> GetMembers(TenantId tenant, string groupId) => _members.Enumerate(tenant, groupId);

    /// <summary>The members of a group, page by page, a page on disk awaited (request threads).</summary>
    public IAsyncEnumerable<string> GetMembersAsync(TenantId tenant, string groupId, CancellationToken cancellationToken = default) =>
        _members.EnumerateAsync(tenant, groupId, cancellationToken);

    public long MemberCount(TenantId tenant, string groupId) => _members.Count(tenant, groupId);

    public bool IsMember(TenantId tenant, string groupId, string memberId) => _members.Contains(tenant, groupId, memberId);

    /// <summary>
    /// <see cref="GetGroupsOf"/> for request threads: a group list on disk is awaited, not waited
    /// for; complete at once when it is in memory.
    /// </summary>
    public ValueTask<IReadOnlyList<string>> GetGroupsOfAsync(TenantId tenant, string memberId)
    {
        var read = _groupsOf.ReadAllAsync(tenant, memberId);
        return read.IsCompletedSuccessfully ? new(WithoutDetaching(tenant, memberId, read.Result)) : AwaitGroupsAsync(read, tenant, memberId);
    }

    private async ValueTask<IReadOnlyList<string>> AwaitGroupsAsync(ValueTask<List<string>> read, TenantId tenant, string memberId) =>
        WithoutDetaching(tenant, memberId, await read.ConfigureAwait(false));

    /// <summary>The groups a resource is a direct member of (User.groups, RFC 7643 §4.1.2).</summary>
    public IReadOnlyList<string> GetGroupsOf(TenantId tenant, string memberId) =>
        WithoutDetaching(tenant, memberId, new List<string>(_groupsOf.Enumerate(tenant, memberId)));

    private List<string> WithoutDetaching(TenantId tenant, string memberId, List<string> groups)
    {
        if (!_detaching.IsEmpty)
        {
            // A group whose removeAll is still cleaning its former members' entries: the group's
            // own set is already final, so it decides.
            groups.RemoveAll(group => _detaching.ContainsKey((tenant.Value, group)) && !_members.Contains(tenant, group, memberId));
        }

        return groups;
    }

    /// <summary>
    /// Applies a membership delta durably: removeAll first, then removals, then additions. Locks and
    /// costs O(changed members), never O(group size); a removeAll visits every former member, but
    /// under the group's lock and a chunk of members' locks at a time (see DetachAsync).
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
        List<byte[]>? detached = null;
        try
        {
            // The stripes of the keys touched, in order (no deadlock), so changes to other groups and
            // members go on; a removeAll's former members are detached after, chunk by chunk.
            int[] stripes = StripesFor(keys);
            var taken = new List<int>(stripes.Length);
            try
            {
                foreach (int stripe in stripes)
                {
                    await _stripes[stripe].WaitAsync(cancellationToken).ConfigureAwait(false);
                    taken.Add(stripe);
                }

                await EnqueueAndApplyAsync(encoded, () => detached = ApplyToGroup(record), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                foreach (int stripe in taken)
                {
                    _stripes[stripe].Release();
                }
            }

            if (detached is not null)
            {
                await DetachAsync(tenant, groupId, detached).ConfigureAwait(false);
            }
        }
        finally
        {
            if (detached is not null)
            {
                EndDetach(tenant, groupId);
            }

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

    // Idempotent: adding a present member or removing an absent one changes nothing. Replay and
    // the batch path apply the whole change at once.
    private void Apply(MembershipRecord record)
    {
        if (ApplyToGroup(record) is { } detached)
        {
            try
            {
                foreach (var page in detached)
                {
                    Detach(record.Tenant, record.GroupId, PagedSet.DecodeIds(page));
                }
            }
            finally
            {
                EndDetach(record.Tenant, record.GroupId);
            }
        }
    }

    // The change as far as the caller's locks reach: the group's own set, and both sides of the
    // explicit removals and additions. A removeAll takes the group's pages out whole and returns
    // them (the former members, as stored); their reverse entries are the caller's to detach, and
    // until then readers filter them (the group is registered as detaching first).
    private List<byte[]>? ApplyToGroup(MembershipRecord record)
    {
        List<byte[]>? detached = null;
        if (record.RemoveAll)
        {
            _detaching.AddOrUpdate((record.Tenant.Value, record.GroupId), 1, (_, count) => count + 1);
            try
            {
                detached = _members.TakeAll(record.Tenant, record.GroupId);
            }
            catch
            {
                // The store stops (a failed apply); the registration goes with the failed change.
                EndDetach(record.Tenant, record.GroupId);
                throw;
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

        return detached;
    }

    // Former members of a group lose their entry naming it, unless they are members again (re-added
    // by the same change or by a later one): the group's set is the truth.
    private void Detach(TenantId tenant, string groupId, List<string> formerMembers)
    {
        foreach (var member in formerMembers)
        {
            if (!_members.Contains(tenant, groupId, member))
            {
                _groupsOf.Remove(tenant, member, groupId);
            }
        }
    }

    /// <summary>
    /// The second half of a live removeAll, after the write released its locks: the former members'
    /// entries are removed a chunk at a time, each chunk under the group's stripe and its members'
    /// stripes (in order), so emptying a group of a million holds a few dozen stripes at a time,
    /// never every stripe, and never across a log flush. The change is already durable: this is not
    /// cancellable, and a failure stops the store like any failed apply. The caller stays counted
    /// as a writer, so a checkpoint never captures a half-detached group.
    /// </summary>
    private async ValueTask DetachAsync(TenantId tenant, string groupId, List<byte[]> pages)
    {
        var groupKey = IndexKey((byte)'H', tenant, 0, groupId);
        for (int first = 0; first < pages.Count; first += DetachPagesPerChunk)
        {
            var members = new List<string>();
            for (int page = first; page < Math.Min(first + DetachPagesPerChunk, pages.Count); page++)
            {
                members.AddRange(PagedSet.DecodeIds(pages[page]));
            }

            var keys = new List<byte[]>(members.Count + 1) { groupKey };
            foreach (var member in members)
            {
                keys.Add(IndexKey((byte)'h', tenant, 0, member));
            }

            int[] stripes = StripesFor(keys);
            int taken = 0;
            try
            {
                for (; taken < stripes.Length; taken++)
                {
                    await _stripes[stripes[taken]].WaitAsync(CancellationToken.None).ConfigureAwait(false);
                }

                Detach(tenant, groupId, members);
            }
            catch (Exception e)
            {
                _failure ??= e;
                throw;
            }
            finally
            {
                for (int i = 0; i < taken; i++)
                {
                    _stripes[stripes[i]].Release();
                }
            }
        }
    }

    private void EndDetach(TenantId tenant, string groupId)
    {
        var key = (tenant.Value, groupId);
        while (true)
        {
            int count = _detaching[key];
            if (count == 1 ? _detaching.TryRemove(new KeyValuePair<(uint, string), int>(key, 1)) : _detaching.TryUpdate(key, count - 1, count))
            {
                return;
            }
        }
    }
}
