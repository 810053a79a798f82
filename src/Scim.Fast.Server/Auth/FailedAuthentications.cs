using System.Threading.RateLimiting;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Errors;

namespace Scim.Fast.Server;

/// <summary>
/// Failed authentications per client address (Scim:Limits:FailedAuthenticationsPerMinutePerAddress),
/// one budget for every place a token is checked: SCIM requests, the administration API and
/// /metrics. An address past its budget is refused (429 with Retry-After) before its token is even
/// looked at, valid or not, so tokens cannot be guessed at the speed of requests on any path.
/// </summary>
internal sealed class FailedAuthentications
{
    // One bucket per client address, drawn only by failed authentications; null when unlimited.
    private readonly PartitionedRateLimiter<string>? _failures;

    public FailedAuthentications(int perMinute)
    {
        if (perMinute > 0)
        {
            _failures = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetTokenBucketLimiter(address, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = perMinute,
                TokensPerPeriod = Math.Max(1, perMinute / 60),
                ReplenishmentPeriod = TimeSpan.FromSeconds(Math.Max(1, 60 / perMinute)),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
        }
    }

    /// <summary>
    /// When the request's address has failed too often: answers 429 (RFC 6585 §4, Retry-After) and
    /// returns true; the caller stops there.
    /// </summary>
    public async Task<bool> RefuseIfThrottledAsync(HttpContext context)
    {
        if (_failures is null)
        {
            return false;
        }

        // Refused while less than one whole failure is left. Not AttemptAcquire(0): the bucket
        // refills continuously, and a peek for zero permits succeeds on any fraction of one, which
        // a replenishment tick (every 100 ms) adds at once; from then on every guess got through,
        // and its own failed acquire (one whole permit) never took the fraction back.
        if (_failures.GetStatistics(AddressOf(context)) is not { CurrentAvailablePermits: < 1 })
        {
            return false;
        }

        context.Response.Headers.RetryAfter = "60";
        Telemetry.ScimMetrics.RecordRejected("auth_throttled");
        await ScimResponses.Error(context, new ScimError(StatusCodes.Status429TooManyRequests, ScimErrorType.None, "Too many failed authentications from this address; retry later.")).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Counts a failed authentication against the request's address, and in
    /// <c>scim_server_rejected_total{scim_reason="auth_failed"}</c> whichever path it came on.
    /// </summary>
    public void Record(HttpContext context)
    {
        Telemetry.ScimMetrics.RecordRejected("auth_failed");
        if (_failures is not null)
        {
            using var _ = _failures.AttemptAcquire(AddressOf(context));
        }
    }

    private static string AddressOf(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "";
}
