using System.Buffers.Binary;
using System.Collections.Concurrent;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server;

/// <summary>
/// Tenant names to the compact numbers the store prefixes every key with (DESIGN-NOTES §7). The
/// default tenant is number 0; a named tenant gets the next free number the first time it is used,
/// recorded durably in the store (a record of a reserved type in tenant 0), so numbers never move
/// when the configuration is reordered.
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
        _loaded = new Lazy<bool>(() =>
        {
            foreach (var position in _store.Page(TenantId.Default, RegistryType, RegistryByName, null, int.MaxValue))
            {
                if (_store.Get(TenantId.Default, RegistryType, position.Id) is { } record)
                {
                    _byName[record.Id] = new TenantId(BinaryPrimitives.ReadUInt32LittleEndian(record.Body));
                }
            }

            return true;
        });
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

    public IReadOnlyCollection<string> Names => _loaded.Value ? (IReadOnlyCollection<string>)_byName.Keys : [];

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
            if (_byName.TryGetValue(name, out tenant))
            {
                return tenant;
            }

            uint next = 1;
            foreach (var existing in _byName.Values)
            {
                next = Math.Max(next, existing.Value + 1);
            }

            var body = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(body, next);
            var (status, _) = await _store.CreateAsync(TenantId.Default, RegistryType, name, null, null, body, [new IndexEntry(RegistryByName, name)]).ConfigureAwait(false);
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

    public bool TryGet(string name, out TenantId tenant) => _loaded.Value & _byName.TryGetValue(name, out tenant);
}
