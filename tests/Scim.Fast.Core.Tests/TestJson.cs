using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests;

/// <summary>Helpers shared by the serialization tests.</summary>
internal static class TestJson
{
    public static string Fixture(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", name));

    public static string WriteUser(User user, ScimProjection? projection = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        UserSerializer.Instance.Write(buffer, user, projection);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static string WriteGroup(Group group, ScimProjection? projection = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        GroupSerializer.Instance.Write(buffer, group, projection);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The same bytes cut into segments of <paramref name="segmentSize"/>, as a PipeReader may deliver them.</summary>
    public static ReadOnlySequence<byte> Segmented(byte[] bytes, int segmentSize)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        Segment? first = null;
        Segment? last = null;
        for (int offset = 0; offset < bytes.Length; offset += segmentSize)
        {
            var memory = bytes.AsMemory(offset, Math.Min(segmentSize, bytes.Length - offset));
            if (first is null)
            {
                first = last = new Segment(memory, 0);
            }
            else
            {
                last = last!.Append(memory);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>
    /// JSON equality as SCIM means it: member order ignored, member names case-insensitive
    /// (RFC 7643 §2.1), dateTimes compared as instants.
    /// </summary>
    public static void AssertSemanticallyEqual(JsonNode? expected, JsonNode? actual, string path = "$")
    {
        switch (expected)
        {
            case null:
                Assert.True(actual is null, $"{path}: expected null, got {actual?.ToJsonString()}");
                return;
            case JsonObject expectedObject:
                var actualObject = Assert.IsType<JsonObject>(actual);
                Assert.True(expectedObject.Count == actualObject.Count, $"{path}: expected members [{string.Join(",", expectedObject.Select(p => p.Key))}], got [{string.Join(",", actualObject.Select(p => p.Key))}]");
                foreach (var (key, value) in expectedObject)
                {
                    var match = actualObject.FirstOrDefault(p => string.Equals(p.Key, key, StringComparison.OrdinalIgnoreCase));
                    Assert.True(match.Key is not null, $"{path}: missing member '{key}'");
                    AssertSemanticallyEqual(value, match.Value, path + "." + key);
                }

                return;
            case JsonArray expectedArray:
                var actualArray = Assert.IsType<JsonArray>(actual);
                Assert.True(expectedArray.Count == actualArray.Count, $"{path}: expected {expectedArray.Count} items, got {actualArray.Count}");
                for (int i = 0; i < expectedArray.Count; i++)
                {
                    AssertSemanticallyEqual(expectedArray[i], actualArray[i], $"{path}[{i}]");
                }

                return;
            default:
                var expectedValue = expected.AsValue();
                Assert.NotNull(actual);
                var actualValue = actual!.AsValue();
                if (expectedValue.TryGetValue(out string? expectedText) && actualValue.TryGetValue(out string? actualText)
                    && DateTimeOffset.TryParse(expectedText, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var expectedInstant)
                    && DateTimeOffset.TryParse(actualText, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var actualInstant)
                    && expectedText.Contains('T', StringComparison.Ordinal))
                {
                    Assert.True(expectedInstant == actualInstant, $"{path}: expected {expectedText}, got {actualText}");
                    return;
                }

                Assert.True(JsonNode.DeepEquals(expected, actual), $"{path}: expected {expected.ToJsonString()}, got {actual.ToJsonString()}");
                return;
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
