using System.Buffers;

using Scim.Fast.Core;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Server.Protocol;

/// <summary>Writes the BulkResponse of a run BulkRequest.</summary>
internal static class BulkResponseWriter
{
    // RFC 7644 §3.7.3 BulkResponse: per operation method, bulkId, location, version, status (a
    // string), and the error as "response" when it failed. Operations never run are left out.
    public static void Write(IBufferWriter<byte> output, List<BulkOperation> operations)
    {
        var writer = new ScimJsonWriter(output);
        writer.WriteStartMessage(ScimUrns.BulkResponse);
        writer.WriteName("\"Operations\":"u8);
        writer.WriteStartArray();
        foreach (var operation in operations)
        {
            if (operation.Result is not { } result)
            {
                continue;
            }

            writer.WriteStartObject();
            writer.WriteName("\"method\":"u8);
            writer.WriteString(operation.Method);
            if (operation.BulkId is { } bulkId)
            {
                writer.WriteName("\"bulkId\":"u8);
                writer.WriteString(bulkId);
            }

            if (operation.Location is { } location)
            {
                writer.WriteName("\"location\":"u8);
                writer.WriteString(location);
            }

            if (result.Error is null && result.Version > 0)
            {
                writer.WriteName("\"version\":"u8);
                writer.WriteString(ETags.Format(result.Version));
            }

            writer.WriteName("\"status\":"u8);
            writer.WriteString(result.Status.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Telemetry.ScimMetrics.RecordBulkOperation(operation.Method, result.Status);
            if (result.Error is { } error)
            {
                writer.WriteName("\"response\":"u8);
                var buffer = new ArrayBufferWriter<byte>(256);
                error.WriteTo(buffer);
                writer.WriteRawValue(buffer.WrittenSpan);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
    }
}
