using System.Text;

using Scim.Fast.Storage.Resources;

using StackExchange.Redis;

namespace Scim.Fast.Storage.Redis;

/// <summary>
/// The key layout (DESIGN-NOTES §11). Every key of a tenant starts with its hash tag <c>{t:N}</c> (a configured prefix before the t),
/// so all of them live in one hash slot and every write of a tenant is one atomic script:
/// <list type="bullet">
/// <item><c>r:&lt;type&gt;:&lt;id&gt;</c> hash: v (version), b (body), u (userName as given), x (externalId), uk/xk (the index keys it holds)</item>
/// <item><c>e:&lt;type&gt;:&lt;id&gt;</c> list: the resource's index entries as (key, member) pairs, removed on the next write</item>
/// <item><c>u:&lt;type&gt;:&lt;folded userName&gt;</c> string: the owner's id; <c>x:&lt;type&gt;:&lt;externalId&gt;</c> set of ids</item>
/// <item><c>o:&lt;type&gt;:&lt;index&gt;</c> sorted set (all scores 0) of <see cref="OrderedMember"/>s; <c>l:&lt;type&gt;:&lt;index&gt;:&lt;key&gt;</c> set of ids</item>
/// <item><c>t:&lt;type&gt;:&lt;id&gt;</c> the last version of a deleted resource (versions only grow)</item>
/// <item><c>m:&lt;group&gt;</c> and <c>g:&lt;member&gt;</c> sets: membership both ways</item>
/// <item><c>a:</c>/<c>s:</c> + hex key: attachments and state records; <c>f</c> the change feed (a stream), <c>fs</c> its last sequence, <c>ff</c> its first kept</item>
/// </list>
/// Keys hold ids and index keys as UTF-8 (Redis keys are binary-safe).
/// </summary>
internal static class RedisKeys
{
    public static RedisKey Resource(string tag, byte type, string id) => tag + "r:" + type + ":" + id;

    public static RedisKey Entries(string tag, byte type, string id) => tag + "e:" + type + ":" + id;

    public static RedisKey Tombstone(string tag, byte type, string id) => tag + "t:" + type + ":" + id;

    // userName is not caseExact (RFC 7643 §4.1.1): uniqueness compares case-insensitively, folded
    // as the embedded store folds it.
    public static string Unique(string tag, byte type, string uniqueKey) => tag + "u:" + type + ":" + uniqueKey.ToUpperInvariant();

    public static string External(string tag, byte type, string externalId) => tag + "x:" + type + ":" + externalId;

    public static string Ordered(string tag, byte type, byte index) => tag + "o:" + type + ":" + index;

    public static string Lookup(string tag, byte type, byte index, string key) => tag + "l:" + type + ":" + index + ":" + key;

    public static RedisKey Members(string tag, string groupId) => tag + "m:" + groupId;

    public static RedisKey GroupsOf(string tag, string memberId) => tag + "g:" + memberId;

    /// <summary>Member sets moved aside by a big group's remove-all, each to its group, waiting for DetachChunk.</summary>
    public static RedisKey DetachQueue(string tag) => tag + "dq";

    public static RedisKey Attachment(string tag, ReadOnlySpan<byte> key) => tag + "a:" + Convert.ToHexString(key);

    public static RedisKey State(string tag, ReadOnlySpan<byte> key) => tag + "s:" + Convert.ToHexString(key);

    /// <summary>A lease (held by one host for a while, see TryHoldLeaseAsync).</summary>
    public static RedisKey Lease(string tag, ReadOnlySpan<byte> key) => tag + "lease:" + Convert.ToHexString(key);

    public static RedisKey Feed(string tag) => tag + "f";

    public static RedisKey FeedSequence(string tag) => tag + "fs";

    public static RedisKey FeedFirst(string tag) => tag + "ff";

    public static RedisKey BuiltIndexes(string global, byte type) => global + "ib:" + type;
}

/// <summary>
/// A position of an ordered index as a sorted-set member whose byte order is the embedded store's
/// order: (key, id) compared ordinally by UTF-16 code units. Each code unit is written big-endian
/// in two bytes (a NUL as 00 00 01), the key ends with 00 00 00, and the id follows the same way
/// (ids hold no NUL). <see cref="OrderedRange.MaxId"/> becomes FF FF…, above every id, as it is there.
/// ZRANGE BYLEX then walks the order, and ranks give startIndex in O(log n).
/// </summary>
internal static class OrderedMember
{
    public static byte[] Encode(string key, string id)
    {
        var bytes = new List<byte>((key.Length + id.Length) * 2 + 3);
        foreach (char c in key)
        {
            if (c == '\0')
            {
                bytes.Add(0);
                bytes.Add(0);
                bytes.Add(1);
            }
            else
            {
                bytes.Add((byte)(c >> 8));
                bytes.Add((byte)c);
            }
        }

        bytes.Add(0);
        bytes.Add(0);
        bytes.Add(0);
        foreach (char c in id)
        {
            bytes.Add((byte)(c >> 8));
            bytes.Add((byte)c);
        }

        return [.. bytes];
    }

    public static OrderedPosition Decode(byte[] member)
    {
        var key = new StringBuilder(member.Length / 2);
        int i = 0;
        while (i + 1 < member.Length)
        {
            if (member[i] == 0 && member[i + 1] == 0)
            {
                if (member[i + 2] == 0)
                {
                    i += 3;
                    break;
                }

                key.Append('\0');
                i += 3;
                continue;
            }

            key.Append((char)((member[i] << 8) | member[i + 1]));
            i += 2;
        }

        var id = new StringBuilder((member.Length - i) / 2);
        for (; i + 1 < member.Length; i += 2)
        {
            id.Append((char)((member[i] << 8) | member[i + 1]));
        }

        return new OrderedPosition(key.ToString(), id.ToString());
    }

    /// <summary>A ZRANGE BYLEX bound strictly past a position ("(" + member).</summary>
    public static RedisValue Exclusive(OrderedPosition position) => (byte[])[(byte)'(', .. Encode(position.Key, position.Id)];

    public static int Compare(OrderedPosition a, OrderedPosition b)
    {
        int c = string.CompareOrdinal(a.Key, b.Key);
        return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
    }
}
