
namespace Scim.Fast.Core.Query;

/// <summary>
/// Form decoding for query parameters (application/x-www-form-urlencoded): '+' is a space and %XX a
/// byte. Entra ID sends <c>filter=userName+eq+%22…%22</c>; <c>Uri.UnescapeDataString</c> would leave
/// the '+' in place and break the filter.
/// </summary>
public static class ScimQueryString
{
    /// <summary>Decodes into <paramref name="destination"/> (at least as long as the input); returns the length.</summary>
    public static int FormDecode(ReadOnlySpan<byte> encoded, Span<byte> destination)
    {
        int written = 0;
        for (int i = 0; i < encoded.Length; i++)
        {
            byte b = encoded[i];
            if (b == (byte)'+')
            {
                b = (byte)' ';
            }
            else if (b == (byte)'%' && i + 2 < encoded.Length && TryHex(encoded[i + 1], out int high) && TryHex(encoded[i + 2], out int low))
            {
                b = (byte)((high << 4) | low);
                i += 2;
            }

            destination[written++] = b;
        }

        return written;
    }

    /// <summary>Decodes a form-encoded value to UTF-8 bytes.</summary>
    public static byte[] FormDecode(string encoded)
    {
        byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(encoded);
        int length = FormDecode(utf8, utf8);
        return utf8.AsSpan(0, length).ToArray();
    }

    private static bool TryHex(byte b, out int value)
    {
        value = b switch
        {
            >= (byte)'0' and <= (byte)'9' => b - '0',
            >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
            >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}
