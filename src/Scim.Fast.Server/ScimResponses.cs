using System.IO.Pipelines;
using System.Text.Json;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Errors;

namespace Scim.Fast.Server;

/// <summary>Response helpers: the SCIM media type (RFC 7644 §3.1) and error bodies (§3.12).</summary>
internal static class ScimResponses
{
    public const string MediaType = "application/scim+json; charset=utf-8";

    public static Task Error(HttpContext context, ScimError error) => Error(context, error, context.RequestAborted);

    public static Task Error(HttpContext context, ScimError error, CancellationToken cancellationToken)
    {
        context.Response.StatusCode = error.Status;
        context.Response.ContentType = MediaType;
        if (error.Status is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable
            && !context.Response.Headers.ContainsKey("Retry-After"))
        {
            // RFC 9110 §10.2.3: when to try again; the conditions behind these clear within seconds.
            context.Response.Headers.RetryAfter = "1";
        }

        error.WriteTo(context.Response.BodyWriter);
        return context.Response.BodyWriter.FlushAsync(cancellationToken).AsTask();
    }

    public static Task Error(HttpContext context, int status, string detail) =>
        Error(context, new ScimError(status, ScimErrorType.None, detail));

    /// <summary>Writes a 200 JSON document with <paramref name="write"/> straight into the response pipe.</summary>
    public static Task Json(HttpContext context, Action<Utf8JsonWriter> write)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = MediaType;
        using (var writer = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            write(writer);
        }

        return FlushAsync(context);
    }

    /// <summary>
    /// Flushes the response body. A flush completes at once unless the client is slow to read (the
    /// pipe is over its limit); only then is the request's token asked for (which arms the deadline,
    /// see <see cref="RequestDeadlines"/>). A flush that completed at once allocates nothing.
    /// </summary>
    public static Task FlushAsync(HttpContext context)
    {
        var flush = context.Response.BodyWriter.FlushAsync(CancellationToken.None);
        return flush.IsCompletedSuccessfully ? Task.CompletedTask : AwaitFlushAsync(context, flush);

        // The deadline (or the client leaving) ends the wait and the connection with it: the response
        // has started, and a reader slow enough to stall it must not hold the buffered rest past the
        // deadline (a flush given the token did the same inside Kestrel).
        static async Task AwaitFlushAsync(HttpContext context, ValueTask<FlushResult> flush)
        {
            var token = context.RequestAborted;
            try
            {
                await flush.AsTask().WaitAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                context.Abort();
                throw;
            }
        }
    }
}
