using System.Collections.Concurrent;

namespace Scim.Fast.Storage.Resources;

/// <summary>
/// The unique keys <see cref="ResourceStore.GetUniqueKeyAsync"/> reads, kept in memory. It serves
/// User.groups' <c>display</c> (RFC 7643 §4.1.2): every GET of a user names each group the user is
/// in, and read each group's record for it (a third of a GET's store reads after an initial sync).
/// A tenant has few groups, read all the time.
/// <para>
/// A read must never leave a name older than the store's behind. Every write bumps a stamp after
/// changing the store, then drops the entry; a reader notes the stamp before it reads the store and
/// takes its entry back when the stamp moved by the time the entry is in. Either the writer's bump
/// comes before the reader's second look (the reader takes it back) or after it, and then the
/// writer's drop comes after the reader's put.
/// </para>
/// </summary>
internal sealed class UniqueKeyCache(int capacity)
{
    private readonly ConcurrentDictionary<(uint Tenant, byte Type, string Id), string> _keys = new();
    private long _writes;
    private int _count;

    /// <summary>Taken before reading the store; handed back to <see cref="Put"/>.</summary>
    public long Stamp => Volatile.Read(ref _writes);

    public int Count => Volatile.Read(ref _count);

    public bool TryGet(TenantId tenant, byte type, string id, out string? key) => _keys.TryGetValue((tenant.Value, type, id), out key);

    /// <summary>Keeps what a read that began at <paramref name="stamp"/> found, unless a write came since.</summary>
    public void Put(TenantId tenant, byte type, string id, string key, long stamp)
    {
        if (MayPut(stamp))
        {
            PutChecked(tenant, type, id, key, stamp);
        }
    }

    // Full (further names are read from the store as before: a tenant with more groups than this is
    // not the case this serves), or a write since the read began: nothing to keep.
    internal bool MayPut(long stamp) => Volatile.Read(ref _count) < capacity && Volatile.Read(ref _writes) == stamp;

    // The second look: a write between MayPut and the add finds nothing to drop, so the reader does.
    internal void PutChecked(TenantId tenant, byte type, string id, string key, long stamp)
    {
        var entry = (tenant.Value, type, id);
        if (!_keys.TryAdd(entry, key))
        {
            return;
        }

        Interlocked.Increment(ref _count);
        if (Volatile.Read(ref _writes) != stamp)
        {
            Remove(KeyValuePair.Create(entry, key));
        }
    }

    /// <summary>Called after a write of the resource changed the store (live or in replay).</summary>
    public void Written(TenantId tenant, byte type, string id)
    {
        Interlocked.Increment(ref _writes);
        if (!_keys.IsEmpty && _keys.TryRemove((tenant.Value, type, id), out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    private void Remove(KeyValuePair<(uint, byte, string), string> entry)
    {
        if (_keys.TryRemove(entry))
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
