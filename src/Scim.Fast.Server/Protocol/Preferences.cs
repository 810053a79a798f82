using Microsoft.AspNetCore.Http;

namespace Scim.Fast.Server.Protocol;

/// <summary>The <c>return</c> preference of RFC 7240 §4.2.</summary>
internal enum ReturnPreference
{
    None,
    Minimal,
    Representation,
}

/// <summary>
/// Reads the <c>Prefer</c> request header (RFC 7240 §2): preferences separated by commas (also across
/// several header lines), each <c>token [= value]</c> followed by optional <c>;</c> parameters; names
/// are case-insensitive, values may be quoted. A preference the server does not know is ignored
/// (§2: "the server MUST ignore ... preferences it does not understand").
/// </summary>
internal static class Preferences
{
    public static ReturnPreference Return(IHeaderDictionary headers)
    {
        var values = headers["Prefer"];
        if (values.Count == 0)
        {
            return ReturnPreference.None;
        }

        foreach (var line in values)
        {
            foreach (var item in (line ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                // Parameters after ';' qualify the preference; return takes none.
                var preference = item.Split(';', 2)[0];
                int equals = preference.IndexOf('=', StringComparison.Ordinal);
                if (equals < 0 || !preference[..equals].Trim().Equals("return", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                // §2: the first occurrence of a preference wins when it is repeated.
                var value = preference[(equals + 1)..].Trim().Trim('"');
                if (value.Equals("minimal", StringComparison.OrdinalIgnoreCase))
                {
                    return ReturnPreference.Minimal;
                }

                if (value.Equals("representation", StringComparison.OrdinalIgnoreCase))
                {
                    return ReturnPreference.Representation;
                }
            }
        }

        return ReturnPreference.None;
    }
}
