using System.Buffers;
using System.Text;
using System.Text.Json;

using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests;

public sealed class ScimJsonWriterTests
{
    private static string WriteString(string value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new ScimJsonWriter(buffer);
        writer.WriteString(value);
        writer.Flush();
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("quote\" backslash\\ slash/")]
    [InlineData("line\nbreak\ttab\r\b\f")]
    [InlineData("\0\u0001\u001f control")]
    [InlineData("ünïcödé ✓ 😀 日本")]
    [InlineData("</script>&'+")]
    public void Strings_RoundTripThroughAStrictJsonParser(string value)
    {
        string json = WriteString(value);

        Assert.Equal(value, JsonSerializer.Deserialize<string>(json));
    }

    [Fact]
    public void LongStrings_WithEscapes_RoundTrip()
    {
        var builder = new StringBuilder();
        for (int i = 0; i < 50_000; i++)
        {
            builder.Append(i % 97 == 0 ? '"' : (char)('a' + (i % 26))).Append(i % 1000 == 0 ? "😀" : "");
        }

        string value = builder.ToString();

        Assert.Equal(value, JsonSerializer.Deserialize<string>(WriteString(value)));
    }

    [Fact]
    public void LoneSurrogate_IsReplaced_NotWrittenAsInvalidUtf8()
    {
        string json = WriteString("a\ud800b");

        Assert.Equal("a\ufffdb", JsonSerializer.Deserialize<string>(json));
    }

    [Theory]
    [InlineData("2010-01-23T04:56:22Z", "\"2010-01-23T04:56:22Z\"")]
    [InlineData("2010-01-23T04:56:22.5Z", "\"2010-01-23T04:56:22.5Z\"")]
    [InlineData("2015-10-10T14:38:21-07:00", "\"2015-10-10T14:38:21-07:00\"")]
    [InlineData("2015-10-10T14:38:21.1234567+05:30", "\"2015-10-10T14:38:21.1234567+05:30\"")]
    public void DateTimes_AreWrittenAsXsdDateTime(string value, string expected)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new ScimJsonWriter(buffer);
        writer.WriteDateTime(DateTimeOffset.Parse(value, System.Globalization.CultureInfo.InvariantCulture));
        writer.Flush();

        Assert.Equal(expected, Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    [Fact]
    public void WritingAUser_AllocatesNothing()
    {
        Assert.True(UserSerializer.Instance.TryRead(
            Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.3-enterprise-user.json")), ScimReadOptions.Trusted, out var user, out _));
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        var projection = ScimProjection.Default(ScimResourceTypes.User);
        for (int i = 0; i < 1000; i++)
        {
            // Warm up: tiered compilation allocates while it rejits; steady state must not.
            buffer.ResetWrittenCount();
            UserSerializer.Instance.Write(buffer, user!, projection);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            buffer.ResetWrittenCount();
            UserSerializer.Instance.Write(buffer, user!, projection);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void SmallOutputBuffers_ProduceTheSameBytes()
    {
        Assert.True(UserSerializer.Instance.TryRead(
            Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.2-full-user.json")), ScimReadOptions.Trusted, out var user, out _));
        var large = new ArrayBufferWriter<byte>();
        UserSerializer.Instance.Write(large, user!);

        var small = new TinySegmentWriter();
        UserSerializer.Instance.Write(small, user!);

        Assert.Equal(large.WrittenSpan.ToArray(), small.ToArray());
    }

    /// <summary>Hands out spans no larger than asked for (or 16 bytes), to force every grow path.</summary>
    private sealed class TinySegmentWriter : IBufferWriter<byte>
    {
        private readonly List<byte> _written = [];
        private byte[] _current = [];

        public void Advance(int count) => _written.AddRange(_current.AsSpan(0, count).ToArray());

        public Memory<byte> GetMemory(int sizeHint = 0) => _current = new byte[Math.Max(sizeHint, 16)];

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public byte[] ToArray() => [.. _written];
    }
}
