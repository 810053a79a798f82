using System.Collections.Concurrent;

using Scim.Fast.Core.Errors;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>Per tenant, the scans running now (a semaphore each, made on first use).</summary>
internal sealed class TenantScans
{
    private readonly ConcurrentDictionary<uint, SemaphoreSlim> _slots = new();

    public SemaphoreSlim For(TenantId tenant, int slots) => _slots.GetOrAdd(tenant.Value, _ => new SemaphoreSlim(slots, slots));
}

/// <summary>
/// Bounds what one list query may read (DESIGN-NOTES §9; the streaming executor is the next step).
/// The first <see cref="ScimLimits.ScanFreeResources"/> resources are free: lookups and small
/// tenants never notice. Past them the query is a scan and takes one of the tenant's
/// <see cref="ScimLimits.MaxConcurrentScansPerTenant"/> slots (none free: 429 with Retry-After, so a
/// few heavy queries cannot take a tenant's, or the server's, memory and cores); past
/// <see cref="ScimLimits.MaxScannedResources"/> it stops with 400 tooMany (RFC 7644 §3.12: "the
/// specified filter yields many more results than the server is willing to calculate or process").
/// </summary>
internal ref struct ScanGuard
{
    private readonly TenantScans _scans;
    private readonly TenantId _tenant;
    private readonly ScimLimits _limits;
    private readonly string _indexed;
    private SemaphoreSlim? _held;
    private int _examined;

    /// <param name="indexed">What the type's index catalogue answers (<see cref="Scim.Fast.Core.Query.ScimIndexCatalogue.Describe"/>), for the advice in errors.</param>
    public ScanGuard(TenantScans scans, TenantId tenant, ScimLimits limits, string indexed)
    {
        _scans = scans;
        _tenant = tenant;
        _limits = limits;
        _indexed = indexed;
    }

    /// <summary>Counts one resource read; an error when the query may not read it.</summary>
    public ScimError? Examine() => Examine(1);

    /// <summary>Counts <paramref name="resources"/> read at once (a scan in storage order reads them all); an error when the query may not.</summary>
    public ScimError? Examine(int resources)
    {
        int examined = _examined = (int)Math.Min((long)_examined + resources, int.MaxValue);
        if (examined <= _limits.ScanFreeResources)
        {
            return null;
        }

        if (_held is null)
        {
            var slots = _scans.For(_tenant, _limits.MaxConcurrentScansPerTenant);
            if (!slots.Wait(0))
            {
                Telemetry.ScimMetrics.RecordRejected("scan_slots");
                return new ScimError(429, ScimErrorType.None,
                    $"Too many unindexed queries of this tenant are running; retry shortly, or use a filter an index answers: {_indexed}.");
            }

            _held = slots;
        }

        if (examined > _limits.MaxScannedResources)
        {
            return new ScimError(400, ScimErrorType.TooMany,
                $"This query would read more than {_limits.MaxScannedResources} resources (Scim:Limits:MaxScannedResources): filter on what an index answers ({_indexed}) or page with a cursor without a filter.");
        }

        return null;
    }

    public void Dispose()
    {
        Telemetry.ScimMetrics.RecordQuery(_examined, scanned: _examined > _limits.ScanFreeResources);
        System.Diagnostics.Activity.Current?.SetTag("scim.query.examined", _examined);
        _held?.Release();
        _held = null;
    }
}
