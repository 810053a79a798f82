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
                Printable(context.Request.Path.Value),
                context.Response.StatusCode,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    /// <summary>
    /// The path as it may appear in a log line: ASP.NET Core has percent-decoded it, so a
    /// <c>%0D%0A</c> in a request would otherwise start a forged line of its own. Control characters
    /// (and the Unicode line separators) are written as escapes; a clean path is returned as is.
    /// </summary>
    internal static string? Printable(string? path)
    {
        if (path is null || !path.AsSpan().ContainsAny(s_unprintable))
        {
            return path;
        }

        var escaped = new System.Text.StringBuilder(path.Length + 16);
        foreach (char c in path)
        {
            if (s_unprintable.Contains(c))
            {
                escaped.Append(c switch
                {
                    '\r' => "\\r",
                    '\n' => "\\n",
                    '\t' => "\\t",
                    _ => "\\u" + ((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture),
                });
            }
            else
            {
                escaped.Append(c);
            }
        }

        return escaped.ToString();
    }

    private static readonly System.Buffers.SearchValues<char> s_unprintable = System.Buffers.SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000a\u000b\u000c\u000d\u000e\u000f"
        + "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"
        + "\u007f\u0085\u2028\u2029");

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{RequestId} {Tenant} {Method} {Path} {Status} {DurationMs:0.000} ms")]
    private static partial void Completed(ILogger logger, string requestId, string? tenant, string method, string? path, int status, double durationMs);
}
