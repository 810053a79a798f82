using System.Buffers.Binary;
using System.Collections.Concurrent;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server;

/// <summary>
/// Tenant names to the compact numbers the store prefixes every key with (DESIGN-NOTES §7). The
/// default tenant is number 0; a named tenant gets the next free number the first time it is used,
/// recorded durably in the store (a record of a reserved type in tenant 0), so numbers never move
/// when the configuration is reordered. Several hosts may share the store (the Redis backend): a
/// name unknown here is looked up in the store before it is registered, and a number is claimed
/// in the store (a record "#n" that only one create can make) before a name takes it, so two
/// hosts registering two tenants at once never give them one number.
/// </summary>
internal sealed class TenantDirectory
{
    /// <summary>The store type that holds the name → number records.</summary>
    public const byte RegistryType = 255;

    // The registry's one ordered index, its tenant names by id. The registry is the store's own
    // record of tenants, not a SCIM resource type, so no catalogue declares it.
    private const byte RegistryByName = 0;

    private readonly IResourceStore _store;
    private readonly ConcurrentDictionary<string, TenantId> _byName = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _assign = new(1, 1);

    private readonly Lazy<bool> _loaded;

    public TenantDirectory(IResourceStore store)
    {
        _store = store;
        // Read on first use of a named tenant: the registry is an ordered index, and those load in
        // the background after a restart; the default tenant never needs it.
        // PublicationOnly: a first read that fails (a store briefly unreachable) is tried again on
        // the next use instead of being remembered as the answer.
        _loaded = new Lazy<bool>(() =>
        {
            Reload();
            return true;
        }, LazyThreadSafetyMode.PublicationOnly);
    }

    // Every registered name from the store (another host may have added some).
    private void Reload()
    {
        foreach (var position in _store.Page(TenantId.Default, RegistryType, RegistryByName, null, int.MaxValue))
        {
            if (_store.Get(TenantId.Default, RegistryType, position.Id) is { } record)
            {
                _byName[record.Id] = new TenantId(BinaryPrimitives.ReadUInt32LittleEndian(record.Body));
            }
        }
    }

    // One name's record, read from the store.
    private bool TryRead(string name, out TenantId tenant)
    {
        if (_store.Get(TenantId.Default, RegistryType, name) is { } record)
        {
            tenant = new TenantId(BinaryPrimitives.ReadUInt32LittleEndian(record.Body));
            _byName[name] = tenant;
            return true;
        }

        tenant = default;
        return false;
    }

    /// <summary>Tenant names: short, URL-safe, case-sensitive.</summary>
    public static bool IsValidName(string name)
    {
        if (name.Length is 0 or > 64)
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Every registered name; on a store other hosts share, read again from it (cold paths: admin,
    /// gauges, index builds). A store one process owns only changes through this directory.
    /// </summary>
    public IReadOnlyCollection<string> Names
    {
        get
        {
            if (_loaded.Value && _store.ReadsAreRemote)
            {
                Reload();
            }

            return (IReadOnlyCollection<string>)_byName.Keys;
        }
    }

    /// <summary>The number of a named tenant, assigning one on first use.</summary>
    public async ValueTask<TenantId> GetOrAddAsync(string name)
    {
        _ = _loaded.Value;
        if (_byName.TryGetValue(name, out var tenant))
        {
            return tenant;
        }

        await _assign.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_byName.TryGetValue(name, out tenant) || TryRead(name, out tenant))
            {
                return tenant;
            }

            Reload();
            uint next = 1;
            foreach (var existing in _byName.Values)
            {
                next = Math.Max(next, existing.Value + 1);
            }

            // Claim the number first: a create of "#n" succeeds for one host only.
            for (int attempt = 0; ; attempt++, next++)
            {
                var (claimed, _) = await _store.CreateAsync(TenantId.Default, RegistryType, "#" + next.ToString(System.Globalization.CultureInfo.InvariantCulture), null, null, ReadOnlyMemory<byte>.Empty).ConfigureAwait(false);
                if (claimed == StoreStatus.Ok)
                {
                    break;
                }

                if (claimed != StoreStatus.AlreadyExists || attempt == 1000)
                {
                    throw new InvalidOperationException($"Could not claim a number for tenant '{name}': {claimed}.");
                }
            }

            var body = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(body, next);
            var (status, _) = await _store.CreateAsync(TenantId.Default, RegistryType, name, null, null, body, [new IndexEntry(RegistryByName, name)]).ConfigureAwait(false);
            if (status == StoreStatus.AlreadyExists && TryRead(name, out tenant))
            {
                // Another host registered this name meanwhile: its number stands (ours stays unused).
                return tenant;
            }

            if (status != StoreStatus.Ok)
            {
                throw new InvalidOperationException($"Could not register tenant '{name}': {status}.");
            }

            tenant = new TenantId(next);
            _byName[name] = tenant;
            return tenant;
        }
        finally
        {
            _assign.Release();
        }
    }

    /// <summary>A registered tenant's number; a name registered by another host is read from the store.</summary>
    public bool TryGet(string name, out TenantId tenant) =>
        _loaded.Value & (_byName.TryGetValue(name, out tenant) || TryRead(name, out tenant));
}
