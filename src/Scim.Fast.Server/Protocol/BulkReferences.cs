using System.Buffers;
using System.Text;
using System.Text.Json;

using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// <c>bulkId:x</c> references of a BulkRequest (RFC 7644 §3.7.2): found once when the request is
/// parsed, in the operation's path (whole segments) and data (whole JSON strings), and replaced by
/// the ids the request created when the operation is about to run.
/// </summary>
internal static class BulkReferences
{
    // Shared by every operation without references; never changed.
    private static readonly List<string> s_none = [];

    /// <summary>Most bulkId references one operation may hold (its data and path together).</summary>
    public const int MaxPerOperation = 10_000;

    // The distinct bulkIds an operation refers to, in its path and its data; null past the cap.
    internal static List<string>? Find(BulkOperation operation)
    {
        if (!operation.Path.Contains("bulkId:", StringComparison.Ordinal) && (operation.Data is not { } bytes || bytes.Span.IndexOf("\"bulkId:"u8) < 0))
        {
            return s_none;   // the usual operation: no lists, no split path
        }

        var references = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int occurrences = 0;
        foreach (var segment in operation.Path.Split('/'))
        {
            if (segment.StartsWith("bulkId:", StringComparison.Ordinal) && seen.Add(segment[7..]))
            {
                references.Add(segment[7..]);
            }
        }

        if (operation.Data is { } data)
        {
            foreach (var (_, _, bulkId) in DataReferences(data))
            {
                if (++occurrences > MaxPerOperation)
                {
                    return null;
                }

                if (seen.Add(bulkId))
                {
                    references.Add(bulkId);
                }
            }
        }

        // An operation may not reference its own bulkId: that is a cycle of one.
        return references;
    }

    // Every whole JSON string "bulkId:x" in the data (RFC 7644 §3.7.2: a reference is the value of
    // a string): where its opening quote is, where it ends (after the closing quote), and x. One
    // pass over the bytes; strings with escapes are not references.
    private static IEnumerable<(int Start, int End, string BulkId)> DataReferences(ReadOnlyMemory<byte> data)
    {
        int at = 0;
        while (at < data.Length)
        {
            int found = data.Span[at..].IndexOf("\"bulkId:"u8);
            if (found < 0)
            {
                yield break;
            }

            int start = at + found;
            int content = start + 8;
            int close = data.Span[content..].IndexOfAny((byte)'"', (byte)'\\');
            if (close < 0)
            {
                yield break;
            }

            close += content;
            if (data.Span[close] == (byte)'"' && !JsonBytes.IsEscaped(data.Span, start))
            {
                yield return (start, close + 1, Encoding.UTF8.GetString(data.Span[content..close]));
                at = close + 1;
            }
            else
            {
                at = content;
            }
        }
    }

    // Replaces the references this operation holds, in one pass each over its path and its data:
    // whole path segments "bulkId:x" and whole JSON strings "bulkId:x" (so "bulkId:a" never
    // rewrites "bulkId:ab"). References not created yet are left as they are.
    internal static void Resolve(BulkOperation operation, Dictionary<string, string> created)
    {
        if (operation.References.Count == 0)
        {
            return;
        }

        var segments = operation.Path.Split('/');
        for (int i = 0; i < segments.Length; i++)
        {
            if (segments[i].StartsWith("bulkId:", StringComparison.Ordinal) && created.TryGetValue(segments[i][7..], out var id))
            {
                segments[i] = Uri.EscapeDataString(id);
            }
        }

        operation.Path = string.Join('/', segments);
        if (operation.Data is not { } data)
        {
            return;
        }

        var output = new ArrayBufferWriter<byte>(data.Length + 64);
        int copied = 0;
        foreach (var (start, end, bulkId) in DataReferences(data))
        {
            if (!created.TryGetValue(bulkId, out var id))
            {
                continue;
            }

            output.Write(data.Span[copied..start]);
            output.Write(JsonSerializer.SerializeToUtf8Bytes(id));
            copied = end;
        }

        if (copied > 0)
        {
            output.Write(data.Span[copied..]);
            operation.Data = output.WrittenSpan.ToArray();
        }
    }
}
