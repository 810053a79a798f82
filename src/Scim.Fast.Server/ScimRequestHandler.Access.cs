using System.Threading.RateLimiting;

using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;

namespace Scim.Fast.Server;

/// <summary>Who may act for a tenant: static tokens, JWT access tokens, scopes and the per-token rate.</summary>
internal sealed partial class ScimRequestHandler
{
    private bool Authenticate(HttpContext context, string? tenantName, out int tokenSlot) =>
        _tokens.TryAuthenticate(context.Request, out string? tokenTenant, out tokenSlot)
        && string.Equals(tokenTenant, tenantName, StringComparison.Ordinal);

    // A JWT access token: signature, issuer, audience and lifetime by the JwtBearer handler; the
    // tenant claim must name the tenant of the path. Returns the token's rate-limit slot, or -1.
    private async Task<int> AuthenticateJwtAsync(HttpContext context, string? tenantName)
    {
        var result = await context.AuthenticateAsync(Microsoft.AspNetCore.Authentication.JwtBearer.JwtBearerDefaults.AuthenticationScheme).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            return -1;
        }

        // The tenant: the issuer's one tenant when configured (a claim, if present, must agree),
        // else the tenant claim, which every token must carry ("default" names the default tenant).
        string? claimed = result.Principal.FindFirst(_options.Jwt.TenantClaim)?.Value;
        string? configured = string.IsNullOrEmpty(_options.Jwt.Tenant) ? null : _options.Jwt.Tenant;
        string? actsFor = configured ?? claimed;
        if (actsFor is null || (configured is not null && claimed is not null && claimed != configured))
        {
            return -1;
        }

        if (!string.Equals(actsFor == "default" ? null : actsFor, tenantName, StringComparison.Ordinal))
        {
            return -1;
        }

        if (!string.IsNullOrEmpty(_options.Jwt.RequiredScope) && !HasScope(result.Principal, _options.Jwt.RequiredScope))
        {
            return InsufficientScope;
        }

        // One bucket per subject (sub), so a client's tokens share its rate.
        string subject = result.Principal.FindFirst("sub")?.Value ?? "";
        context.Items[PrincipalKey] = "jwt:" + (result.Principal.FindFirst("iss")?.Value ?? "") + "\n" + subject;
        return (string.GetHashCode(subject + "\n" + actsFor, StringComparison.Ordinal) | 1) & int.MaxValue;
    }

    // AuthenticateJwtAsync's answer for a valid token without the required scope.
    private const int InsufficientScope = -2;

    // OAuth 2.0 scopes: "scope" is one space-separated string (RFC 8693 §4.2, RFC 9068); some
    // issuers send "scp", as a string or as one claim per scope.
    private static bool HasScope(System.Security.Claims.ClaimsPrincipal principal, string required)
    {
        foreach (var claim in principal.Claims)
        {
            if (claim.Type is "scope" or "scp"
                && claim.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(required, StringComparer.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    // Per-token token bucket: a runaway client slows itself down, not the other tenants.
    private bool TryAcquireRate(int tokenSlot, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (_limiter is null)
        {
            return true;
        }

        using var lease = _limiter.AttemptAcquire(tokenSlot);
        if (lease.IsAcquired)
        {
            return true;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);
        return false;
    }
}
