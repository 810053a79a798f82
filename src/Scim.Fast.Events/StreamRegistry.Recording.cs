using System.Collections.Concurrent;

using Scim.Fast.Storage.Feed;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Events;

/// <summary>
/// Which tenants the embedded change feed records. A new stream starts at the feed's head (it gets
/// the events of writes projected from its creation on), so what the feed records for a tenant
/// without streams is never delivered to anyone, yet cost about a tenth of an initial sync and
/// the space of a copy of every write for the retention window. On the embedded store this
/// process knows every stream the moment it is created, and the feed skips tenants without one;
/// on a shared store (Redis) other hosts create streams this one learns of seconds later, so every
/// tenant is recorded there, as before.
/// </summary>
public sealed partial class StreamRegistry
{
    private readonly Lock _recordedGate = new();

    // Streams being created, per tenant: recorded from before the new stream reads the feed's
    // head, so no write projected after that head is skipped.
    private readonly ConcurrentDictionary<uint, int> _creating = new();
    private volatile HashSet<uint> _recorded = [];

    /// <summary>Whether the feed records the tenant's writes: it has a stream, or one is being created.</summary>
    public bool Records(TenantId tenant) => _recorded.Contains(tenant.Value);

    // Called once the streams are loaded: from then on the embedded feed asks Records.
    private void StartChoosingRecordedTenants()
    {
        StreamsChanged();
        if (!_store.ReadsAreRemote && Feed is ChangeFeed local)
        {
            local.Recording = Records;
        }
    }

    private void CreationStarted(TenantId tenant)
    {
        _creating.AddOrUpdate(tenant.Value, 1, static (_, n) => n + 1);
        StreamsChanged();
    }

    private void CreationEnded(TenantId tenant)
    {
        _creating.AddOrUpdate(tenant.Value, 0, static (_, n) => n - 1);
        StreamsChanged();
    }

    // After any change to the streams: the set of recorded tenants again (streams change rarely;
    // writes read the set on every projected record). Serialised, so the last one computed holds
    // every change made before it.
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
