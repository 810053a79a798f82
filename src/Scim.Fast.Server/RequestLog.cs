using System.Diagnostics;

using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Scim.Fast.Server;

/// <summary>
/// One structured line per request: request id, tenant, method, path, status and duration. Never the
/// query string (filters carry user names), bodies or headers (tokens).
/// </summary>
internal static partial class RequestLog
{
    public const string TenantKey = "scim.tenant";

    public static async Task RunAsync(HttpContext context, Func<HttpContext, Task> next, ILogger logger)
    {
        if (!logger.IsEnabled(LogLevel.Information))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        long started = Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            Completed(
                logger,
                context.TraceIdentifier,
                context.Items.TryGetValue(TenantKey, out var tenant) ? tenant as string : null,
                context.Request.Method,
                context.Request.Path.Value,
                context.Response.StatusCode,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{RequestId} {Tenant} {Method} {Path} {Status} {DurationMs:0.000} ms")]
    private static partial void Completed(ILogger logger, string requestId, string? tenant, string method, string? path, int status, double durationMs);
}
