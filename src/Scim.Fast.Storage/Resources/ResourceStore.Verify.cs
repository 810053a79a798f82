using System.Text;

namespace Scim.Fast.Storage.Resources;

/// <summary>The store's consistency check: every resource against every index, both ways.</summary>
public sealed partial class ResourceStore
{
    // What decoding bytes that are not a record throws (reads past its end, lengths out of range).
    private static bool IsUndecodable(Exception e) =>
        e is ArgumentException or IndexOutOfRangeException or InvalidDataException or OverflowException or FormatException;

    /// <summary>
    /// Scans every resource and index entry and reports each inconsistency (empty when clean): the
    /// `verify` operation the crash tests run after every recovery.
    /// </summary>
    public List<string> Verify(CancellationToken cancellationToken = default)
    {
        _ordered.WaitUntilLoaded();
        var problems = new List<string>();
        var resources = new Dictionary<string, ResourceRecord>(StringComparer.Ordinal);
        var unique = new Dictionary<string, string>(StringComparer.Ordinal);
        var external = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var lookup = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var damaged = new HashSet<string>(StringComparer.Ordinal);
        var forward = new HashSet<string>(StringComparer.Ordinal);
        var backward = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in _kv.ScanAll(cancellationToken: cancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Other keys (metadata, the change feed, state records) may be shorter than a scope.
            string scope = key.Length >= 6 ? Convert.ToHexString(key, 1, 5) : "";
            try
            {
                switch (key[0])
                {
                    case ResourcePrefix:
                        // Without the body: kept for every resource until the end, and never read here.
                        var record = ResourceRecord.Decode(value, body: false);
                        resources[scope + "/" + record.Id] = record;
                        break;
                    case UniquePrefix:
                        unique[scope + "/" + Encoding.UTF8.GetString(key, 6, key.Length - 6)] = Encoding.UTF8.GetString(value);
                        break;
                    case ExternalPrefix:
                        external[scope + "/" + Encoding.UTF8.GetString(key, 6, key.Length - 6)] = value.AsSpan().SequenceEqual(s_overflowed) ? s_everyId : PagedSet.DecodeIds(value);
                        break;
                    case LookupPrefix:
                        lookup[scope + "/" + Encoding.UTF8.GetString(key, 6, key.Length - 6)] = value.AsSpan().SequenceEqual(s_overflowed) ? s_everyId : PagedSet.DecodeIds(value);
                        break;
                    case (byte)'H' or (byte)'h':
                        // A small set's head copies its only page (PagedSet.InlineIds): the copy must be that page.
                        if ((key[0] == (byte)'H' ? _members : _groupsOf).CheckHeadCopy(key, value) is { } copy)
                        {
                            problems.Add(copy);
                        }

                        break;
                    case (byte)'p' or (byte)'q':
                        int separator = Array.IndexOf(key, (byte)0, 5);
                        string owner = Encoding.UTF8.GetString(key, 5, separator - 5);
                        string member = Encoding.UTF8.GetString(key, separator + 1, key.Length - separator - 1);
                        string tenantHex = Convert.ToHexString(key, 1, 4);
                        (key[0] == (byte)'p' ? forward : backward).Add(key[0] == (byte)'p' ? $"{tenantHex}:{owner}>{member}" : $"{tenantHex}:{member}>{owner}");
                        break;
                }
            }
            catch (Exception e) when (IsUndecodable(e))
            {
                // A damaged record (the key-value log's records carry no checksum) is what this check
                // exists to find: reported, and the rest of the store still checked.
                if (key[0] == ResourcePrefix && key.Length > 6)
                {
                    string resource = scope + "/" + Encoding.UTF8.GetString(key, 6, key.Length - 6);
                    damaged.Add(resource);
                    problems.Add($"damaged record of {resource}: {e.GetType().Name}: {e.Message}");
                }
                else
                {
                    problems.Add($"damaged record under key {Convert.ToHexString(key)}: {e.GetType().Name}: {e.Message}");
                }
            }
        }

        // The key-value scan can miss keys (see Known gaps: a few in a million, nondeterministically),
        // so what the checks below rely on is completed by point reads: every resource the ordered
        // indexes list, and every index key a resource names. A miss of the scan then costs
        // coverage, never a false report.
        foreach (var (tenantValue, type, _, _, id) in _ordered.All())
        {
            cancellationToken.ThrowIfCancellationRequested();
            string scope = tenantValue.ToString("X8", System.Globalization.CultureInfo.InvariantCulture) + type.ToString("X2", System.Globalization.CultureInfo.InvariantCulture);
            string resource = scope + "/" + id;
            if (resources.ContainsKey(resource) || damaged.Contains(resource))
            {
                continue;
            }

            try
            {
                if (Read(ResourceKey(new TenantId(tenantValue), type, id)) is { } listed)
                {
                    resources[resource] = listed;
                }
            }
            catch (Exception e) when (IsUndecodable(e))
            {
                damaged.Add(resource);
                problems.Add($"damaged record of {resource}: {e.GetType().Name}: {e.Message}");
            }
        }

        foreach (var (key, record) in resources)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string scope = key[..10];
            if (record.UniqueKey is { } name && !unique.ContainsKey(scope + "/" + Fold(name))
                && _kv.TryRead(IndexKey(UniquePrefix, record.Tenant, record.Type, Fold(name)), out var owner))
            {
                unique[scope + "/" + Fold(name)] = Encoding.UTF8.GetString(owner);
            }

            if (record.ExternalId is { } externalId && !external.ContainsKey(scope + "/" + externalId)
                && _kv.TryRead(IndexKey(ExternalPrefix, record.Tenant, record.Type, externalId), out var externalIds))
            {
                external[scope + "/" + externalId] = externalIds.AsSpan().SequenceEqual(s_overflowed) ? s_everyId : PagedSet.DecodeIds(externalIds);
            }

            foreach (var entry in record.IndexEntries ?? [])
            {
                string text = LookupText(entry.Index, entry.Key);
                if (entry.IsLookup && !lookup.ContainsKey(scope + "/" + text)
                    && _kv.TryRead(LookupKey(record.Tenant, record.Type, entry.Index, entry.Key), out var lookupIds))
                {
                    lookup[scope + "/" + text] = lookupIds.AsSpan().SequenceEqual(s_overflowed) ? s_everyId : PagedSet.DecodeIds(lookupIds);
                }
            }
        }

        // Membership pairs both ways (group → member 'p', member → group 'q') must mirror each other
        // (collected in the scan above).
        foreach (var pair in forward.Except(backward))
        {
            if (!PairExists(pair, reverse: true))
            {
                problems.Add($"membership {pair} has no reverse entry");
            }
        }

        foreach (var pair in backward.Except(forward))
        {
            if (!PairExists(pair, reverse: false))
            {
                problems.Add($"reverse membership {pair} has no forward entry");
            }
        }

        // Every resource's sort keys are in the ordered indexes, and nothing else is.
        int indexEntries = 0;
        var perIndex = new HashSet<(uint, byte, byte)>();
        foreach (var record in resources.Values)
        {
            foreach (var entry in record.IndexEntries ?? [])
            {
                if (entry.IsLookup)
                {
                    continue;
                }

                indexEntries++;
                perIndex.Add((record.Tenant.Value, record.Type, entry.Index));
                if (!_ordered.Contains(record.Tenant, record.Type, entry.Index, entry.Key, record.Id))
                {
                    problems.Add($"resource {record.Id}: sort key {entry.Index}:'{entry.Key}' is not in the ordered index");
                }
            }
        }

        int indexed = 0;
        foreach (var (tenant, type, index) in perIndex)
        {
            indexed += _ordered.Count(new TenantId(tenant), type, index);
        }

        if (indexed != indexEntries)
        {
            problems.Add($"ordered indexes hold {indexed} entries for {indexEntries} sort keys");
        }

        foreach (var (key, record) in resources)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string scope = key[..10];
            if (record.UniqueKey is { } uniqueKey && (!unique.TryGetValue(scope + "/" + Fold(uniqueKey), out var owner) || owner != record.Id))
            {
                problems.Add($"resource {key}: unique key '{uniqueKey}' is not indexed to it");
            }

            if (record.ExternalId is { } externalId && (!external.TryGetValue(scope + "/" + externalId, out var ids) || !(ReferenceEquals(ids, s_everyId) || ids.Contains(record.Id))))
            {
                problems.Add($"resource {key}: externalId '{externalId}' is not indexed to it");
            }

            foreach (var entry in record.IndexEntries ?? [])
            {
                if (entry.IsLookup && LookupIndexesComplete
                    && (!lookup.TryGetValue(scope + "/" + LookupText(entry.Index, entry.Key), out var listed) || !(ReferenceEquals(listed, s_everyId) || listed.Contains(record.Id))))
                {
                    problems.Add($"resource {key}: lookup key {entry.Index}:'{entry.Key}' is not indexed to it");
                }
            }
        }

        foreach (var (key, ids) in lookup)
        {
            string scope = key[..10];
            foreach (var id in ids)
            {
                if (!resources.TryGetValue(scope + "/" + id, out var record) || !HoldsLookup(record, key[11..]))
                {
                    problems.Add($"lookup index {key} lists {id}, which does not hold it");
                }
            }
        }

        foreach (var (key, id) in unique)
        {
            string scope = key[..10];
            if (!resources.TryGetValue(scope + "/" + id, out var record) || record.UniqueKey is null || scope + "/" + Fold(record.UniqueKey) != key)
            {
                problems.Add($"unique index {key} points to {id}, which does not hold it");
            }
        }

        foreach (var (key, ids) in external)
        {
            string scope = key[..10];
            foreach (var id in ids)
            {
                if (!resources.TryGetValue(scope + "/" + id, out var record) || scope + "/" + record.ExternalId != key)
                {
                    problems.Add($"externalId index {key} lists {id}, which does not hold it");
                }
            }
        }

        return problems;
    }

    // A membership pair "{tenant hex}:{group}>{member}" as a point read: of its group → member entry
    // or (reverse) its member → group entry, for a pair the scan saw only one side of.
    private bool PairExists(string pair, bool reverse)
    {
        int colon = pair.IndexOf(':', StringComparison.Ordinal);
        int arrow = pair.IndexOf('>', StringComparison.Ordinal);
        var tenant = new TenantId(uint.Parse(pair[..colon], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture));
        string group = pair[(colon + 1)..arrow];
        string member = pair[(arrow + 1)..];
        return reverse ? _groupsOf.Contains(tenant, member, group) : _members.Contains(tenant, group, member);
    }
}
