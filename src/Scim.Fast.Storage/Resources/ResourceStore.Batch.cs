using Scim.Fast.Storage.Feed;

namespace Scim.Fast.Storage.Resources;

/// <summary>The batch create path (/Bulk and initial syncs).</summary>
public sealed partial class ResourceStore
{
    /// <summary>
    /// The bulk path (initial syncs, /Bulk): creates many resources with one log commit for the whole
    /// batch and one lock acquisition, instead of one of each per resource. Each item gets its own
    /// status; a conflict rejects that item only.
    /// </summary>
    public async ValueTask<(StoreStatus Status, long Version)[]> CreateBatchAsync(
        TenantId tenant, byte type, IReadOnlyList<NewResource> items, CancellationToken cancellationToken = default)
    {
        var results = new (StoreStatus, long)[items.Count];
        await EnterWriteAsync().ConfigureAwait(false);
        try
        {
            // A batch touches keys all over the stripes: take them all, in order.
            int taken = 0;
            try
            {
                for (; taken < _stripes.Length; taken++)
                {
                    await _stripes[taken].WaitAsync(cancellationToken).ConfigureAwait(false);
                }

                using var arena = new BatchArena();
                var records = new List<(ResourceRecord Record, MembershipRecord? Members)>(items.Count);
                var encoded = new List<ReadOnlyMemory<byte>>(items.Count);
                var stored = new List<ReadOnlyMemory<byte>>(items.Count);
                long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                var claimed = new HashSet<string>(items.Count, StringComparer.Ordinal);
                var ids = new HashSet<string>(items.Count, StringComparer.Ordinal);
                for (int i = 0; i < items.Count; i++)
                {
                    var item = items[i];
                    ValidateId(item.Id);
                    if (!IsStorableKey(item.UniqueKey) || !IsStorableKey(item.ExternalId) || !AreStorable(item.IndexEntries))
                    {
                        results[i] = (StoreStatus.InvalidValue, 0);
                        continue;
                    }

                    if (item.Body.Length > MaxRecordBytes)
                    {
                        results[i] = (StoreStatus.TooLarge, 0);
                        continue;
                    }

                    if (!ids.Add(item.Id) || (!item.IdIsFresh && _kv.Contains(ResourceKey(tenant, type, item.Id))))
                    {
                        results[i] = (StoreStatus.AlreadyExists, 0);
                        continue;
                    }

                    if (item.UniqueKey is { } uniqueKey && (!claimed.Add(Fold(uniqueKey)) || FindByUniqueKey(tenant, type, uniqueKey) is not null))
                    {
                        results[i] = (StoreStatus.UniquenessConflict, 0);
                        continue;
                    }

                    long version = item.IdIsFresh ? 1 : Tombstone(tenant, type, item.Id) + 1;
                    var record = new ResourceRecord(false, tenant, type, version, item.Id, item.UniqueKey, item.ExternalId, Owned(item.Body), item.IndexEntries);
                    MembershipRecord? members;
                    try
                    {
                        members = Membership(tenant, item.Id, item.Members);
                    }
                    catch (ArgumentException)
                    {
                        results[i] = (StoreStatus.InvalidValue, 0);
                        continue;
                    }

                    // A plain record is encoded once, into the batch's pooled chunks (inside its
                    // event record when it has a change): what the key-value store keeps is that
                    // slice of the logged bytes.
                    ReadOnlyMemory<byte> logged;
                    ReadOnlyMemory<byte> bytes;
                    if (members is null)
                    {
                        int innerLength = record.EncodedSize();
                        if (item.Change is null)
                        {
                            var plain = arena.Take(innerLength);
                            record.EncodeInto(plain.Span);
                            logged = bytes = plain;
                        }
                        else
                        {
                            var withEvent = arena.Take(EventRecord.EncodedSize(innerLength, item.Change));
                            EventRecord.EncodeInto(withEvent.Span, record, innerLength, item.Change, now);
                            logged = withEvent;
                            bytes = EventRecord.Inner(logged);
                        }
                    }
                    else
                    {
                        var combined = CombinedRecord.Encode(record, members);
                        logged = item.Change is null ? combined : EventRecord.Encode(combined, item.Change, now);
                        bytes = combined;
                    }

                    if (logged.Length > _log.MaxRecordBytes)
                    {
                        // A group with a huge member list: refused here, never handed to the log
                        // (and its name stays free for a later item of the batch).
                        if (item.UniqueKey is { } refusedName)
                        {
                            claimed.Remove(Fold(refusedName));
                        }

                        results[i] = (StoreStatus.TooLarge, 0);
                        continue;
                    }

                    records.Add((record, members));
                    encoded.Add(logged);
                    stored.Add(bytes);
                    results[i] = (StoreStatus.Ok, version);
                }

                ThrowIfStopped();

                // The last point where the caller may still cancel: nothing is logged yet. From the
                // enqueue on the batch completes whatever the caller does (a cancellation inside it
                // used to be taken for a failed write and stopped the store for every tenant).
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    // One commit for the whole batch, durable before anything is applied.
                    long batchAddress = await _log.EnqueueBatchAsync(encoded, CancellationToken.None).ConfigureAwait(false);
                    await WaitDurableAsync(batchAddress).ConfigureAwait(false);
                }
                catch (Exception e) when (_failure is null)
                {
                    // Part of the batch may be in the log: stop, and let a restart decide.
                    _failure = e;
                    throw;
                }

                try
                {
                    // The batch holds every stripe, so no other writer runs: the in-memory ordered
                    // indexes take the batch's keys on a second core while this one writes the
                    // key-value records (new resources only: there is nothing to remove first).
                    var sorted = Task.Run(() =>
                    {
                        foreach (var (record, _) in records)
                        {
                            AddSortKeys(record);
                        }
                    }, CancellationToken.None);
                    Exception? failed = null;
                    try
                    {
                        for (int r = 0; r < records.Count; r++)
                        {
                            var (record, members) = records[r];
                            if (members is null)
                            {
                                // A plain record's log bytes are its stored value: no second encoding.
                                Apply(record, previous: null, stored[r], sortKeys: false);
                            }
                            else
                            {
                                // A combined record's bytes are not: the resource is encoded on its own.
                                Apply(record, previous: null, sortKeys: false);
                                Apply(members);
                            }
                        }
                    }
                    catch (Exception e)
                    {
                        failed = e;
                    }

                    // Always awaited, and the first failure is the one reported.
                    try
                    {
                        await sorted.ConfigureAwait(false);
                    }
                    catch (Exception e)
                    {
                        failed ??= e;
                    }

                    if (failed is not null)
                    {
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
                    }
                }
                catch (Exception e)
                {
                    _failure = e;
                    throw;
                }
            }
            finally
            {
                for (int stripe = 0; stripe < taken; stripe++)
                {
                    _stripes[stripe].Release();
                }
            }
        }
        finally
        {
            ExitWrite();
        }

        return results;
    }

    // The body as the record keeps it: the caller's array itself when the memory is exactly one
    // (the endpoints encode each resource into an array of its own), else a copy.
    private static byte[] Owned(ReadOnlyMemory<byte> body) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(body, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : body.ToArray();
}
