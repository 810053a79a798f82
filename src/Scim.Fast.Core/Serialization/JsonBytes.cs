namespace Scim.Fast.Core.Serialization;

/// <summary>Small tests on raw JSON bytes, for code that looks at stored or sent JSON without parsing it.</summary>
public static class JsonBytes
{
    /// <summary>Whether the quote at <paramref name="quote"/> is escaped: preceded by an odd number of backslashes.</summary>
    public static bool IsEscaped(ReadOnlySpan<byte> json, int quote)
    {
        int backslashes = 0;
        for (int i = quote - 1; i >= 0 && json[i] == (byte)'\\'; i--)
        {
            backslashes++;
        }

        return backslashes % 2 == 1;
    }
}
