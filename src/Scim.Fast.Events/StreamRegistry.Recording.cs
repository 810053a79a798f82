using System.Collections.Concurrent;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Events;

/// <summary>
/// Which tenants' writes carry a change for the feed. A new stream starts at the feed's head (it
/// gets the events of writes projected from its creation on), so what the feed records for a tenant
/// without streams is never delivered to anyone, yet cost about a tenth of an initial sync and the
/// space of a copy of every write for the retention window. On the embedded store this process
/// knows every stream the moment it is created (<see cref="KnowsEveryStream"/>), and writes of a
/// tenant without one carry no change. The choice is made when the write is logged, so it is in
/// the log: a projector that re-reads the log after a crash numbers exactly the same entries. On a
/// shared store (Redis) other hosts create streams this one learns of seconds later, so every
/// tenant's writes carry their change there, as before.
/// </summary>
public sealed partial class StreamRegistry
{
    private readonly Lock _recordedGate = new();

    // Streams being created, per tenant: the tenant's writes carry their change from before the new
    // stream reads the feed's head, so none that starts after that is left out.
    private readonly ConcurrentDictionary<uint, int> _creating = new();
    private volatile HashSet<uint> _recorded = [];

    /// <summary>Whether this process learns of every stream as it is created (the store is its own, not shared).</summary>
    public bool KnowsEveryStream => !_store.ReadsAreRemote;

    /// <summary>Whether the tenant's writes should carry their change: it has a stream, or one is being created.</summary>
    public bool Records(TenantId tenant) => _recorded.Contains(tenant.Value);

    private void CreationStarted(TenantId tenant)
    {
        _creating.AddOrUpdate(tenant.Value, 1, static (_, n) => n + 1);
        StreamsChanged();
    }

    private void CreationEnded(TenantId tenant)
    {
        if (_creating.AddOrUpdate(tenant.Value, 0, static (_, n) => n - 1) == 0)
        {
            _creating.TryRemove(KeyValuePair.Create(tenant.Value, 0));
        }

        StreamsChanged();
    }

    // After any change to the streams: the set of recorded tenants again (streams change rarely;
    // every write reads the set). Serialised, so the last one computed holds every change made
    // before it.
    private void StreamsChanged()
    {
        lock (_recordedGate)
        {
            var recorded = new HashSet<uint>();
            foreach (var stream in _streams.Values)
            {
                recorded.Add(stream.Tenant.Value);
            }

            foreach (var (tenant, creating) in _creating)
            {
                if (creating > 0)
                {
                    recorded.Add(tenant);
                }
            }

            _recorded = recorded;
        }
    }
}
