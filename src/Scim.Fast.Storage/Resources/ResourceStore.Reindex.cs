using System.Text;

namespace Scim.Fast.Storage.Resources;

/// <summary>
/// Building an index the store did not have (one added to a catalogue): which index numbers a type
/// is complete for, and new index entries for one resource without a new version.
/// </summary>
public sealed partial class ResourceStore
{
    /// <summary>Whether this open created the store (no data existed): every index is trivially complete.</summary>
    public bool IsNew { get; private init; }

    /// <summary>
    /// What every resource of <paramref name="type"/> carries index entries for, as last recorded by
    /// <see cref="MarkIndexesBuilt"/> (the caller's descriptions of its indexes: number, kind,
    /// attribute, case rule); null for a store that never recorded it.
    /// </summary>
    public IReadOnlyList<string>? BuiltIndexes(byte type)
    {
        if (!_kv.TryRead(BuiltIndexesKey(type), out var list))
        {
            return null;
        }

        try
        {
            return PagedSet.DecodeIds(list);
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or DecoderFallbackException)
        {
            // Not a list this version wrote: nothing counts as built (the safe direction).
            return [];
        }
    }

    /// <summary>
    /// Records that every resource of <paramref name="type"/> carries entries for exactly these
    /// indexes. Kept with the next checkpoint: lost in a crash before it, the build runs again (it
    /// is idempotent), which is the safe direction.
    /// </summary>
    public void MarkIndexesBuilt(byte type, IReadOnlyList<string> indexes) =>
        _kv.Upsert(BuiltIndexesKey(type), PagedSet.EncodeIds([.. indexes]));

    private static byte[] BuiltIndexesKey(byte type) => [.. "M/indexes-built/"u8, type];

    /// <summary>
    /// Gives the resource at <paramref name="version"/> these index entries (ordered and lookup),
    /// keeping its body, unique key, externalId and version: a client's ETag does not change because
    /// an index was added. Logged like any write (a <see cref="ReindexRecord"/>) and applied after it
    /// is durable. <see cref="StoreStatus.InvalidValue"/> or <see cref="StoreStatus.TooLarge"/> when the
    /// entries cannot be stored; <see cref="StoreStatus.VersionMismatch"/> or <see cref="StoreStatus.NotFound"/>
    /// when the resource moved on meanwhile: the write that moved it carried its own entries.
    /// </summary>
    public async ValueTask<StoreStatus> ReindexAsync(TenantId tenant, byte type, string id, long version, IReadOnlyList<IndexEntry> entries)
    {
        if (!AreStorable(entries))
        {
            return StoreStatus.InvalidValue;
        }

        // Most resources already carry the entries (a build after a definition change that keys the
        // same, a store from before the catalogue): nothing to write, no locks to take. A write
        // meanwhile would have carried the entries itself.
        var resourceKey = ResourceKey(tenant, type, id);
        if (Read(resourceKey) is { } unchanged && unchanged.Version == version && SameEntries(unchanged.IndexEntries, entries))
        {
            return StoreStatus.Ok;
        }

        await EnterWriteAsync().ConfigureAwait(false);
        try
        {
            var seen = Read(resourceKey);
            if (seen is null || seen.Version != version)
            {
                return seen is null ? StoreStatus.NotFound : StoreStatus.VersionMismatch;
            }

            var request = seen with { IndexEntries = entries };
            var stripes = StripesFor(resourceKey, request, seen, null, null);
            var taken = new List<int>(stripes.Length);
            try
            {
                foreach (int stripe in stripes)
                {
                    await _stripes[stripe].WaitAsync().ConfigureAwait(false);
                    taken.Add(stripe);
                }

                // Under the locks: the very version read before (its keys, hence the stripes, too).
                var current = Read(resourceKey);
                if (current is null || current.Version != version)
                {
                    return current is null ? StoreStatus.NotFound : StoreStatus.VersionMismatch;
                }

                if (SameEntries(current.IndexEntries, entries))
                {
                    return StoreStatus.Ok;
                }

                var record = current with { IndexEntries = entries };
                byte[] encoded = ReindexRecord.Encode(record);
                if (encoded.Length > _log.MaxRecordBytes)
                {
                    return StoreStatus.TooLarge;
                }

                await EnqueueAndApplyAsync(encoded, () => Apply(record, current), CancellationToken.None).ConfigureAwait(false);
                return StoreStatus.Ok;
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

    private static bool SameEntries(IReadOnlyList<IndexEntry>? a, IReadOnlyList<IndexEntry> b)
    {
        a ??= [];
        if (a.Count != b.Count)
        {
            return false;
        }

        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] != b[i])
            {
                return false;
            }
        }

        return true;
    }
}
