using StackExchange.Redis;

namespace Scim.Fast.Storage.Redis;

/// <summary>The consistency check of the Redis backend: every resource against every index, both ways.</summary>
public sealed partial class RedisResourceStore
{
    /// <summary>
    /// Reads every key of every tenant (SCAN on each primary) and reports each inconsistency, empty
    /// when clean: a resource whose unique key, externalId or index entries are missing, an index
    /// entry or key whose resource does not hold it, a membership kept one way only. What the
    /// failover tests run after every round; minutes at millions of resources.
    /// </summary>
    public List<string> Verify(CancellationToken cancellationToken = default)
    {
        var problems = new List<string>();
        var entryOwners = new HashSet<(string Key, string Member)>();
        foreach (var resourceKey in TenantKeys("r:*"))
        {
            cancellationToken.ThrowIfCancellationRequested();
            string name = resourceKey!;
            string tag = name[..(name.IndexOf('}', StringComparison.Ordinal) + 1)];
            string rest = name[(tag.Length + 2)..];
            int colon = rest.IndexOf(':', StringComparison.Ordinal);
            string type = rest[..colon];
            string id = rest[(colon + 1)..];
            var fields = _db.HashGet(resourceKey, ["v", "uk", "xk"]);
            if (fields[0].IsNull)
            {
                problems.Add($"{name}: a resource without a version");
                continue;
            }

            if (!fields[1].IsNull && (string?)_db.StringGet((string)fields[1]!) != id)
            {
                problems.Add($"{name}: its unique key {fields[1]} does not name it");
            }

            if (!fields[2].IsNull && !_db.SetContains((string)fields[2]!, id))
            {
                problems.Add($"{name}: missing from its externalId set {fields[2]}");
            }

            var entries = _db.ListRange(tag + "e:" + type + ":" + id);
            for (int i = 0; i + 1 < entries.Length; i += 2)
            {
                string key = entries[i]!;
                bool ordered = key.AsSpan(tag.Length).StartsWith("o:", StringComparison.Ordinal);
                bool present = ordered ? _db.SortedSetScore(key, entries[i + 1]).HasValue : _db.SetContains(key, entries[i + 1]);
                if (!present)
                {
                    problems.Add($"{name}: index entry missing from {key}");
                }

                entryOwners.Add((key, Convert.ToHexString((byte[])entries[i + 1]!)));
            }
        }

        foreach (var uniqueKey in TenantKeys("u:*"))
        {
            string name = uniqueKey!;
            string tag = name[..(name.IndexOf('}', StringComparison.Ordinal) + 1)];
            string type = name[(tag.Length + 2)..].Split(':')[0];
            string? owner = _db.StringGet(uniqueKey);
            if (owner is null || (string?)_db.HashGet(tag + "r:" + type + ":" + owner, "uk") != name)
            {
                problems.Add($"{name}: names {owner}, which does not hold it");
            }
        }

        foreach (var indexKey in TenantKeys("o:*"))
        {
            foreach (var member in _db.SortedSetScan(indexKey, pageSize: 1000))
            {
                if (!entryOwners.Contains((indexKey!, Convert.ToHexString((byte[])member.Element!))))
                {
                    problems.Add($"{indexKey}: an entry no resource holds ({OrderedMember.Decode((byte[])member.Element!)})");
                }
            }
        }

        foreach (var pattern in new[] { "l:*", "x:*" })
        {
            foreach (var setKey in TenantKeys(pattern))
            {
                string name = setKey!;
                string tag = name[..(name.IndexOf('}', StringComparison.Ordinal) + 1)];
                string type = name[(tag.Length + 2)..].Split(':')[0];
                foreach (var id in _db.SetScan(setKey, pageSize: 1000))
                {
                    bool held = pattern == "x:*"
                        ? (string?)_db.HashGet(tag + "r:" + type + ":" + id, "xk") == name
                        : entryOwners.Contains((name, Convert.ToHexString((byte[])id!)));
                    if (!held)
                    {
                        problems.Add($"{name}: lists {id}, which does not hold it");
                    }
                }
            }
        }

        VerifyMembership(problems);
        return problems;
    }

    // Membership is kept both ways: every member of a group lists the group, and back.
    private void VerifyMembership(List<string> problems)
    {
        // First the links back a big group's remove-all left to drop (a crash between its chunks).
        foreach (var queue in TenantKeys("dq"))
        {
            string name = queue!;
            DetachMovedMembersAsync(name[..^"dq".Length]).GetAwaiter().GetResult();
        }

        foreach (var (pattern, other) in new[] { ("m:*", "g:"), ("g:*", "m:") })
        {
            foreach (var setKey in TenantKeys(pattern))
            {
                string name = setKey!;
                string tag = name[..(name.IndexOf('}', StringComparison.Ordinal) + 1)];
                string self = name[(tag.Length + 2)..];
                foreach (var id in _db.SetScan(setKey, pageSize: 1000))
                {
                    if (!_db.SetContains(tag + other + id, self))
                    {
                        problems.Add($"{name}: holds {id}, whose {other} set does not hold it back");
                    }
                }
            }
        }
    }
}
