using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// RFC 9865 cursors. Opaque to clients (base64url), and bound by an HMAC to the query they came from
/// (tenant, resource type, filter, sort): a cursor of another tenant, filter or order, or a hand-made
/// one, is 400 invalidCursor before anything of it is read. Keyset cursors (the last (key, id) of an
/// ordered index) never expire and stay stable while writes continue; offset cursors serve filtered
/// results. The key comes from <c>Scim:CursorKey</c> or a file in the data directory, so cursors
/// survive restarts.
/// </summary>
internal sealed class Cursors(byte[] key)
{
    private const int MacBytes = 16;

    /// <summary>A key of this process only (cursors do not survive a restart): for tools and benchmarks.</summary>
    public static Cursors WithRandomKey() => new(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// The configured key (base64, at least 32 bytes), else the one kept in
    /// <c>{dataDirectory}/cursor.key</c>, made on first start.
    /// </summary>
    public static Cursors Load(string? configured, string dataDirectory)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return new Cursors(Convert.FromBase64String(configured));
        }

        string file = Path.Combine(dataDirectory, "cursor.key");
        if (!File.Exists(file))
        {
            Directory.CreateDirectory(dataDirectory);
            File.WriteAllText(file, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        return new Cursors(Convert.FromBase64String(File.ReadAllText(file).Trim()));
    }

    /// <summary>What a cursor is bound to: the tenant, the resource type, the filter and the sort.</summary>
    public static string Context(TenantId tenant, byte type, string? filter, string? sortBy, string? sortOrder) =>
        string.Join('\n', tenant.Value.ToString(CultureInfo.InvariantCulture), type.ToString(CultureInfo.InvariantCulture), filter ?? "", sortBy ?? "", sortOrder ?? "");

    // "k{index}{a|d}:{key length}:{key}{id}": lengths, not separators, so any key or id round-trips.
    public string EncodePosition(string context, byte index, bool descending, OrderedPosition last) =>
        Encode(context, $"k{index}{(descending ? 'd' : 'a')}:{last.Key.Length.ToString(CultureInfo.InvariantCulture)}:{last.Key}{last.Id}");

    public bool TryDecodePosition(string context, string cursor, byte index, bool descending, out OrderedPosition position)
    {
        position = default;
        if (!TryDecode(context, cursor, out var text))
        {
            return false;
        }

        string prefix = $"k{index}{(descending ? 'd' : 'a')}:";
        if (!text.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = text.AsSpan(prefix.Length);
        int colon = rest.IndexOf(':');
        if (colon <= 0 || !int.TryParse(rest[..colon], NumberStyles.None, CultureInfo.InvariantCulture, out int keyLength)
            || keyLength > rest.Length - colon - 1)
        {
            return false;
        }

        string key = rest.Slice(colon + 1, keyLength).ToString();
        string id = rest[(colon + 1 + keyLength)..].ToString();
        // Keys and ids the store holds never start with U+FFFF (its "after everything" sentinel).
        if (id.Length == 0 || key.StartsWith('\uFFFF') || id.StartsWith('\uFFFF'))
        {
            return false;
        }

        position = new OrderedPosition(key, id);
        return true;
    }

    /// <summary>
    /// Whether the cursor is this server's for this query, and its kind: the ordered index of a
    /// keyset cursor, or null for an offset.
    /// </summary>
    public bool TryDecodeKind(string context, string cursor, out byte? index)
    {
        index = null;
        if (!TryDecode(context, cursor, out var text))
        {
            return false;
        }

        if (text.StartsWith('o'))
        {
            return true;
        }

        int end = 1;
        while (end < text.Length && char.IsAsciiDigit(text[end]))
        {
            end++;
        }

        if (text.StartsWith('k') && end > 1 && byte.TryParse(text.AsSpan(1, end - 1), NumberStyles.None, CultureInfo.InvariantCulture, out byte parsed))
        {
            index = parsed;
            return true;
        }

        return false;
    }

    /// <summary>What a root /.search cursor is bound to: the tenant, the filter and the sort (no type).</summary>
    public static string RootContext(TenantId tenant, string? filter, string? sortBy, string? sortOrder) =>
        string.Join('\n', "root", tenant.Value.ToString(CultureInfo.InvariantCulture), filter ?? "", sortBy ?? "", sortOrder ?? "");

    // "r{type}:{cursor}": the position of a root /.search, the resource type (in search order) and
    // that type's own cursor there ("" for its first page), which its own MAC binds to that type.
    public string EncodeRoot(string context, int type, string typeCursor) =>
        Encode(context, "r" + type.ToString(CultureInfo.InvariantCulture) + ":" + typeCursor);

    public bool TryDecodeRoot(string context, string cursor, out int type, out string typeCursor)
    {
        type = 0;
        typeCursor = "";
        if (!TryDecode(context, cursor, out var text) || !text.StartsWith('r'))
        {
            return false;
        }

        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 2 || !int.TryParse(text.AsSpan(1, colon - 1), NumberStyles.None, CultureInfo.InvariantCulture, out type))
        {
            return false;
        }

        typeCursor = text[(colon + 1)..];
        return true;
    }

    public string EncodeOffset(string context, int offset) => Encode(context, "o" + offset.ToString(CultureInfo.InvariantCulture));

    public bool TryDecodeOffset(string context, string cursor, out int offset)
    {
        offset = 0;
        return TryDecode(context, cursor, out var text) && text.StartsWith('o')
            && int.TryParse(text.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out offset);
    }

    // "{payload}.{mac}", both base64url; the MAC covers the context and the payload.
    private string Encode(string context, string text)
    {
        byte[] payload = Encoding.UTF8.GetBytes(text);
        return Base64Url.EncodeToString(payload) + "." + Base64Url.EncodeToString(Mac(context, payload));
    }

    private bool TryDecode(string context, string cursor, out string text)
    {
        text = "";
        int dot = cursor.IndexOf('.', StringComparison.Ordinal);
        if (cursor.Length > 4096 || dot < 0)
        {
            return false;
        }

        try
        {
            byte[] payload = Base64Url.DecodeFromChars(cursor.AsSpan(0, dot));
            byte[] mac = Base64Url.DecodeFromChars(cursor.AsSpan(dot + 1));
            if (!CryptographicOperations.FixedTimeEquals(mac, Mac(context, payload)))
            {
                return false;
            }

            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(payload);
            return true;
        }
        catch (Exception e) when (e is FormatException or DecoderFallbackException)
        {
            return false;
        }
    }

    private byte[] Mac(string context, byte[] payload)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(Encoding.UTF8.GetBytes(context));
        hmac.AppendData([0]);
        hmac.AppendData(payload);
        return hmac.GetHashAndReset()[..MacBytes];
    }
}
