using System.Buffers.Binary;
using System.Text;

using Scim.Fast.Storage.Feed;

namespace Scim.Fast.Storage.Resources;

/// <summary>Applying a durable record to the key-value store and the indexes, live and in replay.</summary>
public sealed partial class ResourceStore
{
    // One log record of any kind, as recovery meets it.
    private void Replay(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        if (span[0] == EventRecord.Kind)
        {
            Replay(EventRecord.Inner(bytes));
        }
        else if (span[0] == MembershipRecord.Kind)
        {
            Apply(MembershipRecord.Decode(span));
        }
        else if (span[0] == CombinedRecord.Kind)
        {
            var (resource, members) = CombinedRecord.Decode(span);
            Replay(resource);
            Apply(members);
        }
        else if (span[0] == ReindexRecord.Kind)
        {
            var record = ReindexRecord.Decode(span);
            var current = Read(ResourceKey(record.Tenant, record.Type, record.Id));
            if (current is not null && current.Version == record.Version)
            {
                Apply(record, current);
            }
        }
        else if (span[0] == AttachedRecord.Kind)
        {
            var (inner, key, value) = AttachedRecord.Decode(bytes);
            if (!inner.IsEmpty)
            {
                Replay(inner);
            }

            ApplyAttachment(key, value);
        }
        else
        {
            Replay(ResourceRecord.Decode(span));
        }
    }

    // Idempotent: a record older than what the store holds changes nothing.
    private void Replay(ResourceRecord record)
    {
        var current = Read(ResourceKey(record.Tenant, record.Type, record.Id));
        long state = current?.Version ?? Tombstone(record.Tenant, record.Type, record.Id);
        if (record.Version > state)
        {
            Apply(record, current);
        }
    }

    // encoded: the record's own encoding when the caller has it (empty: encode here; no resource
    // record encodes to nothing).
    private void Apply(ResourceRecord record, ResourceRecord? previous, ReadOnlyMemory<byte> encoded = default, bool sortKeys = true)
    {
        var resourceKey = ResourceKey(record.Tenant, record.Type, record.Id);
        // Names compare folded; folding only when they differ as written (a rename).
        string? previousName = previous?.UniqueKey;
        string? nextName = record.IsDelete ? null : record.UniqueKey;
        if (previousName is not null && (nextName is null || (previousName != nextName && Fold(previousName) != Fold(nextName))))
        {
            _kv.Delete(UniqueKey(record.Tenant, record.Type, previousName));
        }

        if (nextName is not null)
        {
            _kv.Upsert(UniqueKey(record.Tenant, record.Type, nextName), Encoding.UTF8.GetBytes(record.Id));
        }

        string? nextExternal = record.IsDelete ? null : record.ExternalId;
        if (previous?.ExternalId is { } previousExternal && previousExternal != nextExternal)
        {
            UpdateExternal(record.Tenant, record.Type, previousExternal, record.Id, add: false);
        }

        if (nextExternal is not null && nextExternal != previous?.ExternalId)
        {
            UpdateExternal(record.Tenant, record.Type, nextExternal, record.Id, add: true);
        }

        UpdateLookups(previous, record);
        UpdateSortKeys(previous, record.IsDelete || !sortKeys ? null : record);

        if (record.IsDelete)
        {
            _kv.Delete(resourceKey);
            var tombstone = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(tombstone, record.Version);
            _kv.Upsert(IndexKey(TombstonePrefix, record.Tenant, record.Type, record.Id), tombstone);

            // After the resource left its key and every index: see MayHaveDeletedSince.
            Interlocked.Increment(ref _deletesApplied);
        }
        else
        {
            _kv.Upsert(resourceKey, encoded.IsEmpty ? record.Encode() : encoded.Span);
        }

        // After the store holds the new state: a reader that read the old one takes its entry back.
        _uniqueKeys.Written(record.Tenant, record.Type, record.Id);
    }

    // The lookup entries the write drops and adds; an entry kept as it was is not touched.
    private void UpdateLookups(ResourceRecord? previous, ResourceRecord record)
    {
        foreach (var entry in previous?.IndexEntries ?? [])
        {
            if (entry.IsLookup && (record.IsDelete || !HoldsEntry(record, entry)))
            {
                UpdateIdList(LookupKey(record.Tenant, record.Type, entry.Index, entry.Key), record.Id, add: false);
            }
        }

        if (record.IsDelete)
        {
            return;
        }

        foreach (var entry in record.IndexEntries ?? [])
        {
            if (entry.IsLookup && (previous is null || !HoldsEntry(previous, entry)))
            {
                UpdateIdList(LookupKey(record.Tenant, record.Type, entry.Index, entry.Key), record.Id, add: true);
            }
        }
    }

    private static bool HoldsLookup(ResourceRecord record, string text)
    {
        foreach (var entry in record.IndexEntries ?? [])
        {
            if (entry.IsLookup && LookupText(entry.Index, entry.Key) == text)
            {
                return true;
            }
        }

        return false;
    }

    private void UpdateExternal(TenantId tenant, byte type, string externalId, string id, bool add) =>
        UpdateIdList(IndexKey(ExternalPrefix, tenant, type, externalId), id, add);

    // A small id list under one key (externalId, lookup keys): read, change, write back. Decided
    // from the stored state alone, so replay reaches the same overflow decisions.
    private void UpdateIdList(byte[] key, string id, bool add)
    {
        var ids = new List<string>();
        if (_kv.TryRead(key, out var list))
        {
            if (list.AsSpan().SequenceEqual(s_overflowed))
            {
                // Overflowed stays overflowed: which resources hold the key is no longer tracked.
                return;
            }

            ids = PagedSet.DecodeIds(list);
        }

        ids.Remove(id);
        if (add)
        {
            ids.Add(id);
        }

        if (ids.Count > MaxListedIds)
        {
            _kv.Upsert(key, s_overflowed);
        }
        else if (ids.Count == 0)
        {
            _kv.Delete(key);
        }
        else
        {
            _kv.Upsert(key, PagedSet.EncodeIds(ids));
        }
    }

    // Only the ordered entries that change: one kept as it was (a resource's id on every replace, all
    // of them on a re-keying) never leaves its index, so a concurrent list never misses it.
    private void UpdateSortKeys(ResourceRecord? previous, ResourceRecord? next)
    {
        // Ordered indexes are numbered below the lookups (IndexEntry.FirstLookupIndex).
        Span<bool> moved = stackalloc bool[IndexEntry.FirstLookupIndex];
        foreach (var entry in previous?.IndexEntries ?? [])
        {
            if (!entry.IsLookup && (next is null || !HoldsEntry(next, entry)))
            {
                // A key that changes moves in one step (out and in under the tree's lock): a list
                // query walking this index must find the resource at one place or the other, never
                // at neither (it missed one now and then while PATCHes moved users along
                // meta.lastModified: ConcurrencyTests.AScanOverAMovingIndex_…).
                if (next is not null && NewKeyIn(previous!, next, entry.Index) is { } newKey)
                {
                    _ordered.Move(previous!.Tenant, previous.Type, entry.Index, entry.Key, newKey, previous.Id);
                    moved[entry.Index] = true;
                }
                else
                {
                    _ordered.Remove(previous!.Tenant, previous.Type, entry.Index, entry.Key, previous.Id);
                }
            }
        }

        if (next is null)
        {
            return;
        }

        if (!_orderedInUse && HasOrderedEntry(next))
        {
            // Reaches a checkpoint together with the record (checkpoints wait for writers to drain),
            // so a recovered store that holds ordered keys never misses their rebuild.
            _kv.Upsert(s_orderedInUseKey, [1]);
            _orderedInUse = true;
        }

        foreach (var entry in next.IndexEntries ?? [])
        {
            if (!entry.IsLookup && (previous is null || !HoldsEntry(previous, entry)) && !moved[entry.Index])
            {
                _ordered.Add(next.Tenant, next.Type, entry.Index, entry.Key, next.Id);
            }
        }
    }

    // The key a resource moves to in an ordered index: when the index held exactly one of its keys
    // before and exactly one after, and they differ; else null (added and removed one by one).
    private static string? NewKeyIn(ResourceRecord previous, ResourceRecord next, byte index)
    {
        IndexEntry? before = null;
        IndexEntry? after = null;
        int beforeCount = 0;
        int afterCount = 0;
        foreach (var entry in previous.IndexEntries ?? [])
        {
            if (!entry.IsLookup && entry.Index == index)
            {
                before = entry;
                beforeCount++;
            }
        }

        foreach (var entry in next.IndexEntries ?? [])
        {
            if (!entry.IsLookup && entry.Index == index)
            {
                after = entry;
                afterCount++;
            }
        }

        return beforeCount == 1 && afterCount == 1 && before!.Value.Key != after!.Value.Key ? after.Value.Key : null;
    }

    private static bool HoldsEntry(ResourceRecord holder, IndexEntry wanted)
    {
        foreach (var entry in holder.IndexEntries ?? [])
        {
            if (entry == wanted)
            {
                return true;
            }
        }

        return false;
    }

    private void AddSortKeys(ResourceRecord record) => UpdateSortKeys(null, record);

    private static bool HasOrderedEntry(ResourceRecord record)
    {
        foreach (var entry in record.IndexEntries ?? [])
        {
            if (!entry.IsLookup)
            {
                return true;
            }
        }

        return false;
    }
}
