using Scim.Fast.Core;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Server.Protocol;

/// <summary>The ListResponse envelope (RFC 7644 §3.4.2), shared by every list the server writes.</summary>
internal static class ListResponseWriter
{
    /// <summary>
    /// A ListResponse up to the opening of "Resources" (RFC 7644 §3.4.2): itemsPerPage is the number
    /// returned; startIndex for index paging, nextCursor for cursor paging (RFC 9865).
    /// </summary>
    public static void WriteHead(ref ScimJsonWriter writer, int totalResults, int itemsPerPage, int? startIndex, string? nextCursor)
    {
        writer.WriteStartMessage(ScimUrns.ListResponse);
        writer.WriteName("\"totalResults\":"u8);
        writer.WriteNumber(totalResults);
        writer.WriteName("\"itemsPerPage\":"u8);
        writer.WriteNumber(itemsPerPage);
        if (startIndex is { } start)
        {
            writer.WriteName("\"startIndex\":"u8);
            writer.WriteNumber(start);
        }

        if (nextCursor is { } next)
        {
            writer.WriteName("\"nextCursor\":"u8);
            writer.WriteString(next);
        }

        writer.WriteName("\"Resources\":"u8);
        writer.WriteStartArray();
    }
}
