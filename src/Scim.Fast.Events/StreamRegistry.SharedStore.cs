using System.Text;
using System.Text.Json.Nodes;

using Microsoft.Extensions.Logging;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Events;

// Several hosts on one store (the Redis backend): streams other hosts created, changed or deleted,
// and the lease that lets one host at a time push a stream.
public sealed partial class StreamRegistry
{
    // Another host's changes to a known stream: its settings, and its positions merged with ours
    // (the further cursor; acknowledgements from both), and its control SETs as the store has them.
    // False when it was deleted.
    private bool Refresh(EventStream stream)
    {
        if (_store.ReadState(stream.Tenant, ConfigKey(stream.Id)) is not { Length: > 0 } stored)
        {
            Forget(stream.Id);
            return false;
        }

        stream.TakeSettingsFrom(EventStream.FromStored(JsonNode.Parse(stored)!.AsObject()));
        if (TakeControls(stream, ReadControls(stream)))
        {
            Wake(stream);
        }

        var parked = new SortedSet<long>();
        var acked = new SortedSet<long>();
        ReadPositions(stream, out long cursor, parked, acked);
        lock (stream.Gate)
        {
            if (cursor > stream.Cursor)
            {
                stream.Cursor = cursor;
                stream.AckedAhead.RemoveWhere(p => p <= cursor);
                stream.PositionsVersion++;
            }

            foreach (long position in acked)
            {
                if (position > stream.Cursor && stream.AckedAhead.Add(position))
                {
                    stream.PositionsVersion++;
                }
            }
        }

        return true;
    }

    /// <summary>
    /// Push: before a host delivers a stream after another did (a lease taken over), the positions
    /// the other one reached: its cursor and parked SETs replace ours.
    /// </summary>
    internal void TakePositionsFromStore(EventStream stream)
    {
        var parked = new SortedSet<long>();
        var acked = new SortedSet<long>();
        ReadPositions(stream, out long cursor, parked, acked);
        lock (stream.Gate)
        {
            if (cursor > 0)
            {
                stream.Cursor = stream.PersistedCursor = cursor;
                stream.Parked.Clear();
                stream.Parked.UnionWith(parked);
                stream.PositionsVersion++;
            }
        }
    }

    /// <summary>Takes or renews this host's lease on delivering a push stream (always granted on a store one process owns).</summary>
    internal ValueTask<bool> HoldPushLeaseAsync(EventStream stream) =>
        _store.TryHoldLeaseAsync(stream.Tenant, Encoding.UTF8.GetBytes("ssf-push/" + stream.Id), _holder, PushLeaseMilliseconds);

    /// <summary>How long a host's push lease lasts without renewal: another host takes over after it.</summary>
    internal const int PushLeaseMilliseconds = 10_000;

    private void Forget(string id)
    {
        _streams.TryRemove(id, out _);
        StreamsChanged();
        if (_pushes.TryRemove(id, out var push))
        {
            push.Abandon();
            _ = push.DisposeAsync().AsTask();
        }
    }

    // Shared store: every 5 s, streams other hosts created (their push delivery competes for the
    // lease here too, so one host's loss does not stop it) and deleted.
    private async Task RefreshLoopAsync()
    {
        while (!_stopRefresh.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(5), _stopRefresh.Token).ConfigureAwait(false);
                var index = ReadIndex();
                var listed = new HashSet<string>(StringComparer.Ordinal);
                foreach (var (tenant, id) in index)
                {
                    listed.Add(id);
                    if (!_streams.ContainsKey(id))
                    {
                        _ = Get(tenant, id);
                    }
                }

                // Known streams: their settings and positions as other hosts left them (a stream
                // deleted is forgotten: its settings are gone). One the index lost (two hosts
                // rewriting it at once) but whose settings remain goes back into it.
                var unlisted = new List<(TenantId, string)>();
                foreach (var stream in _streams.Values.ToList())
                {
                    if (Refresh(stream) && !listed.Contains(stream.Id))
                    {
                        unlisted.Add((stream.Tenant, stream.Id));
                    }
                }

                if (unlisted.Count > 0)
                {
                    await _indexGate.WaitAsync(_stopRefresh.Token).ConfigureAwait(false);
                    try
                    {
                        var repaired = ReadIndex();
                        foreach (var entry in unlisted)
                        {
                            if (!repaired.Contains(entry))
                            {
                                repaired.Add(entry);
                            }
                        }

                        await WriteIndexAsync(repaired).ConfigureAwait(false);
                    }
                    finally
                    {
                        _indexGate.Release();
                    }
                }
            }
            catch (OperationCanceledException) when (_stopRefresh.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Reading the event streams other hosts changed failed; trying again");
            }
        }
    }
}
