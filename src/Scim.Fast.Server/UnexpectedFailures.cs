using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

using Scim.Fast.Core.Errors;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server;

/// <summary>
/// The last answer for a fault no handler expected (a stored record that cannot be decoded, a
/// bug): a SCIM error with status 500 (RFC 7644 §3.12: errors carry the Error schema and the HTTP
/// status as a string) naming the request id the server log files the exception under. Kestrel's
/// own answer was a 500 with an empty body. A request whose answer had begun cannot be taken back:
/// its connection ends, as Kestrel's would. Faults that have their own answer pass through:
/// cancellations (the deadline's 503, a client gone), a shared store that is unavailable (503), and
/// Kestrel's own request errors.
/// </summary>
internal sealed class UnexpectedFailures(ILogger logger)
{
    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        Task handled;
        try
        {
            handled = next(context);
        }
        catch (Exception e)
        {
            handled = Task.FromException(e);
        }

        // Answered without waiting (most reads): no state machine for the catch below.
        return handled.IsCompletedSuccessfully ? Task.CompletedTask : AwaitAsync(handled, context);
    }

    private async Task AwaitAsync(Task handled, HttpContext context)
    {
        try
        {
            await handled.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not (OperationCanceledException or StoreUnavailableException or BadHttpRequestException))
        {
            logger.LogError(e, "Unexpected failure answering {Method} {Path} (request {RequestId})", context.Request.Method, RequestLog.Printable(context.Request.Path.Value), context.TraceIdentifier);
            var body = context.Response.BodyWriter;
            if (context.Response.HasStarted || !body.CanGetUnflushedBytes || body.UnflushedBytes > 0)
            {
                context.Abort();
                return;
            }

            context.Response.Clear();
            context.Response.Headers.CacheControl = "no-store";
            await ScimResponses.Error(context, new ScimError(
                StatusCodes.Status500InternalServerError, ScimErrorType.None,
                $"The server failed to answer this request (request id {context.TraceIdentifier}); the server log has the cause."), CancellationToken.None).ConfigureAwait(false);
        }
    }
}
