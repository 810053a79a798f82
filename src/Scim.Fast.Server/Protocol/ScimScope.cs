using Scim.Fast.Core.Errors;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// Who a request acts for: the tenant its token is bound to, and the SCIM base URL the tenant is
/// served under (meta.location and $ref values are built from it, RFC 7643 §3.1), and the request's
/// id, which the change feed records as the write's transaction (RFC 8417 <c>txn</c>).
/// </summary>
internal readonly record struct ScimScope(TenantId Tenant, string BaseUrl, string? Transaction = null);

/// <summary>The outcome of one SCIM operation, before it is written as HTTP or as a bulk result.</summary>
internal readonly record struct ScimOutcome<T>(int Status, T? Resource, long Version, ScimError? Error)
    where T : class
{
    public static ScimOutcome<T> Failed(ScimError error) => new(error.Status, null, 0, error);

    public bool Succeeded => Error is null;
}

/// <summary>ETags are meta.version (RFC 7644 §3.14): weak, the store's version number.</summary>
internal static class ETags
{
    public static string Format(long version) => "W/\"" + version.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"";

    /// <summary>
    /// Parses If-Match / If-None-Match. Returns null for "*" (any version), the version for a tag
    /// this server issued, and -1 for a tag it never issued (it matches no version).
    /// </summary>
    public static long? Parse(string value)
    {
        var span = value.AsSpan().Trim();
        if (span is "*")
        {
            return null;
        }

        // A list: the first tag decides (clients send the one they read).
        int comma = span.IndexOf(',');
        if (comma >= 0)
        {
            span = span[..comma].Trim();
        }

        if (span.StartsWith("W/", StringComparison.Ordinal))
        {
            span = span[2..];
        }

        span = span.Trim('"');
        return long.TryParse(span, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long version) ? version : -1;
    }
}
