using System.Buffers;
using System.IO.Pipelines;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Errors;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// Request bodies straight from the request's PipeReader as a <see cref="ReadOnlySequence{T}"/>:
/// no copy into a string or array, the generated readers parse the pipe's own segments.
/// </summary>
internal static class RequestBodies
{
    /// <summary>
    /// Buffers the whole body (up to <paramref name="limit"/> bytes, else 413), hands it to
    /// <paramref name="handle"/>, then releases it. RFC 7644 §3.8: application/scim+json, and
    /// application/json as well; any other declared media type is 415.
    /// </summary>
    public static async Task WithBodyAsync(HttpContext context, int limit, Func<ReadOnlySequence<byte>, Task> handle)
    {
        var request = context.Request;
        if (!IsJson(request.ContentType))
        {
            await ScimResponses.Error(context, new ScimError(StatusCodes.Status415UnsupportedMediaType, ScimErrorType.None,
                "Send the body as application/scim+json (or application/json).")).ConfigureAwait(false);
            return;
        }

        if (request.ContentLength > limit)
        {
            await DrainAsync(request.BodyReader, context.RequestAborted).ConfigureAwait(false);
            await TooLarge(context, limit).ConfigureAwait(false);
            return;
        }

        var reader = request.BodyReader;
        ReadResult result;

        // A deadline or a client gone cancels the pending read through CancelPendingRead, not a token:
        // a read cancelled by its token leaves Kestrel's body reader "reading", and its drain after
        // the 503 then fails with an error in the log (found by the chaos suite).
        using var registration = context.RequestAborted.Register(static state => CancelRead((PipeReader)state!), reader);
        try
        {
            while (true)
            {
                result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    context.RequestAborted.ThrowIfCancellationRequested();
                    continue;
                }

                if (result.Buffer.Length > limit)
                {
                    reader.AdvanceTo(result.Buffer.End);
                    await DrainAsync(reader, context.RequestAborted).ConfigureAwait(false);
                    await TooLarge(context, limit).ConfigureAwait(false);
                    return;
                }

                if (result.IsCompleted)
                {
                    break;
                }

                // Nothing consumed, everything examined: wake up when more bytes arrive.
                reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own limits (body size, minimum data rate for slow clients) end the read.
            await ScimResponses.Error(context, new ScimError(e.StatusCode, ScimErrorType.None, "The request body could not be read: " + e.Message)).ConfigureAwait(false);
            return;
        }
        catch (IOException)
        {
            // The client reset the connection mid-body: nobody is left to answer, nothing was read.
            context.Abort();
            return;
        }

        try
        {
            if (result.Buffer.IsEmpty)
            {
                await ScimResponses.Error(context, ScimError.InvalidSyntax("The request has no body.")).ConfigureAwait(false);
                return;
            }

            await handle(result.Buffer).ConfigureAwait(false);
        }
        finally
        {
            reader.AdvanceTo(result.Buffer.End);
        }
    }

    // Best effort: on a connection already gone Kestrel's reader throws, and the read it would
    // cancel fails by itself.
    private static void CancelRead(PipeReader reader)
    {
        try
        {
            reader.CancelPendingRead();
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or ObjectDisposedException)
        {
        }
    }

    private static bool IsJson(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            // No declared type: parse it; a non-JSON body fails as invalidSyntax anyway.
            return true;
        }

        var mediaType = contentType.AsSpan();
        int semicolon = mediaType.IndexOf(';');
        if (semicolon >= 0)
        {
            mediaType = mediaType[..semicolon];
        }

        mediaType = mediaType.Trim();
        return mediaType.Equals("application/scim+json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("text/json", StringComparison.OrdinalIgnoreCase);
    }

    // Read and drop the rest of an oversized body (Kestrel's MaxRequestBodySize bounds it), so the
    // client, still sending, receives the 413 instead of a reset connection.
    private static async Task DrainAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                // Cancelled by CancelPendingRead (see WithBodyAsync), never by a token.
                var result = await reader.ReadAsync().ConfigureAwait(false);
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    return;
                }
            }
        }
        catch (BadHttpRequestException)
        {
            // Past Kestrel's own limit: the connection closes after the 413.
        }
    }

    private static Task TooLarge(HttpContext context, int limit) =>
        ScimResponses.Error(context, new ScimError(StatusCodes.Status413PayloadTooLarge, ScimErrorType.None, $"The request body is larger than {limit} bytes."));
}
