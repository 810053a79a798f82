using System.Buffers.Text;
using System.Globalization;
using System.Text;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// RFC 9865 cursors. Opaque to clients (base64url), and checked on the way back in: a cursor from
/// another order or a hand-made one is 400 invalidCursor. Keyset cursors (the last (key, id) of an
/// ordered index) never expire and stay stable while writes continue; offset cursors serve filtered
/// results.
/// </summary>
internal static class Cursors
{
    // "k{index}{a|d}:{key length}:{key}{id}": lengths, not separators, so any key or id round-trips.
    public static string EncodePosition(byte index, bool descending, OrderedPosition last) =>
        Encode($"k{index}{(descending ? 'd' : 'a')}:{last.Key.Length.ToString(CultureInfo.InvariantCulture)}:{last.Key}{last.Id}");

    public static bool TryDecodePosition(string cursor, byte index, bool descending, out OrderedPosition position)
    {
        position = default;
        if (!TryDecode(cursor, out var text))
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

    public static string EncodeOffset(int offset) => Encode("o" + offset.ToString(CultureInfo.InvariantCulture));

    public static bool TryDecodeOffset(string cursor, out int offset)
    {
        offset = 0;
        return TryDecode(cursor, out var text) && text.StartsWith('o')
            && int.TryParse(text.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out offset);
    }

    private static string Encode(string text) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(text));

    private static bool TryDecode(string cursor, out string text)
    {
        text = "";
        if (cursor.Length > 4096)
        {
            return false;
        }

        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Base64Url.DecodeFromChars(cursor));
            return true;
        }
        catch (Exception e) when (e is FormatException or DecoderFallbackException)
        {
            return false;
        }
    }
}
