using System.Text.Json;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server;

/// <summary>
/// <c>GET /readyz</c>, outside the SCIM base path and without a token (it says nothing about data):
/// 200 when the store takes requests with its ordered indexes loaded, else 503 with Retry-After.
/// Indexes still being built after a catalogue change are listed but do not make it unready:
/// queries on them scan meanwhile, correctly.
/// </summary>
internal static class Readiness
{
    public static async Task WriteAsync(HttpContext context, IResourceStore store, ScimRequestHandler handler)
    {
        string? stopped = store.StopReason;
        bool loaded = store.OrderedIndexesLoaded;
        bool ready = stopped is null && loaded;
        context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        if (!ready)
        {
            context.Response.Headers.RetryAfter = "1";
        }

        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteString("status", ready ? "ready" : stopped is not null ? "stopped" : "loading");
        writer.WriteString("backend", store.Backend);
        writer.WriteBoolean("orderedIndexesLoaded", loaded);
        if (stopped is not null)
        {
            writer.WriteString("stopped", stopped);
        }

        // The change feed does not decide readiness (writes and reads go on), but a stalled
        // projector keeps the log from being truncated: say so where operators look.
        writer.WriteStartObject("changeFeed");
        // Only the embedded store projects its feed from the log; other backends write the feed
        // entry in the write itself: nothing lags.
        writer.WriteNumber("lagBytes", store is ResourceStore embedded ? embedded.FeedLagBytes : 0);

        if (store.Feed.Failure is { } failure)
        {
            writer.WriteString("failed", failure.Message);
        }

        writer.WriteEndObject();
        writer.WriteStartObject("indexesBuilding");
        WriteBuilding(writer, handler.Users.ResourceType.Name, handler.Users.IndexesBuilding);
        WriteBuilding(writer, handler.Groups.ResourceType.Name, handler.Groups.IndexesBuilding);
        writer.WriteEndObject();
        writer.WriteEndObject();
        await writer.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private static void WriteBuilding(Utf8JsonWriter writer, string type, IReadOnlyList<byte> numbers)
    {
        writer.WriteStartArray(type);
        foreach (byte number in numbers)
        {
            writer.WriteNumberValue(number);
        }

        writer.WriteEndArray();
    }
}
