using System.Buffers;
using System.Text;

using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Server;

namespace Scim.Fast.AllocationBudgets;

/// <summary>
/// Bytes allocated per call on the hot paths, against <see cref="AllocationBudgets"/>. Deterministic:
/// each path runs synchronously on the test thread and is measured with
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> after a warm-up call (so one-time caches and
/// JIT work do not count). Timings are never asserted here: those are benchmarks.
/// </summary>
public sealed class AllocationBudgetTests
{
    private static readonly byte[] s_fullUser = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "rfc7643-8.2-full-user.json"));

    private static User FullUser()
    {
        Assert.True(UserSerializer.Instance.TryRead(new ReadOnlySequence<byte>(s_fullUser), ScimReadOptions.Trusted, out var user, out var error), error?.ToString());
        return user;
    }

    private static long Measure(Action action, int iterations = 100)
    {
        action();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < iterations; i++)
        {
            action();
        }

        return (GC.GetAllocatedBytesForCurrentThread() - before) / iterations;
    }

    [Fact]
    public void SerializerWrite_StaysWithinBudget()
    {
        var user = FullUser();
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        long bytes = Measure(() =>
        {
            buffer.ResetWrittenCount();
            UserSerializer.Instance.Write(buffer, user);
        });

        Assert.True(buffer.WrittenCount > 1000);
        Assert.True(bytes <= AllocationBudgets.SerializerWriteUser, $"{bytes} B per write, budget {AllocationBudgets.SerializerWriteUser} B");
    }

    [Theory]
    [InlineData("userName eq \"bjensen@example.com\"", true)]
    [InlineData("emails[type eq \"work\" and value co \"@example.com\"] or name.familyName sw \"J\"", true)]
    [InlineData("meta.lastModified gt \"2011-05-13T04:42:34Z\" and active eq true", false)]
    public void CompiledFilterEvaluation_StaysWithinBudget(string text, bool expected)
    {
        var user = FullUser();
        Assert.True(FilterParser.TryParse(text, ScimResourceTypes.User, out var filter, out var error), error?.ToString());
        var compiled = CompiledFilter<User>.Compile(filter, UserAccessor.Instance);
        bool matched = false;
        int evaluations = 0;
        long bytes = Measure(() =>
        {
            matched = compiled.Matches(user);
            evaluations++;
        }, 1000);

        // The work happened, with the right answer, every time.
        Assert.Equal(1001, evaluations);
        Assert.Equal(expected, matched);

        Assert.True(bytes <= AllocationBudgets.CompiledFilterEvaluation, $"{bytes} B per evaluation, budget {AllocationBudgets.CompiledFilterEvaluation} B");
    }

    [Fact]
    public void FilterParseAndCompile_StaysWithinBudget()
    {
        var text = Encoding.UTF8.GetBytes("userName eq \"2819c223-7f76-453a-919d-413861904646@example.com\"");
        long bytes = Measure(() =>
        {
            Assert.True(FilterParser.TryParse(text, ScimResourceTypes.User, out var filter, out _));
            CompiledFilter<User>.Compile(filter, UserAccessor.Instance);
        });

        Assert.True(bytes <= AllocationBudgets.FilterParseAndCompile, $"{bytes} B per parse + compile, budget {AllocationBudgets.FilterParseAndCompile} B");
    }

    [Fact]
    public async Task GetUserById_ThroughTheRequestHandler_StaysWithinBudget()
    {
        const string token = "budget-token-0123456789";
        string data = Path.Combine(Path.GetTempPath(), "scim-fast-budget-" + Guid.NewGuid().ToString("N"));
        var app = ScimServer.Create(["--Scim:DataDirectory=" + data, "--Scim:BearerTokens:0=" + token, "--Logging:LogLevel:Default=Warning"]);
        var store = app.Services.GetRequiredService<Scim.Fast.Storage.Resources.ResourceStore>();
        try
        {
            var handler = app.Services.GetRequiredService<ScimRequestHandler>();
            var create = Context("POST", "/scim/v2/Users", token);
            create.Request.ContentType = "application/scim+json";
            create.Request.Body = new MemoryStream(s_fullUser);
            var responseBody = new MemoryStream();
            create.Response.Body = responseBody;
            await handler.HandleAsync(create);
            Assert.Equal(201, create.Response.StatusCode);
            string id = System.Text.Json.Nodes.JsonNode.Parse(responseBody.ToArray())!["id"]!.GetValue<string>();

            var written = new CountingStream();
            long bytes = Measure(() =>
            {
                var context = Context("GET", "/scim/v2/Users/" + id, token);
                context.Response.Body = written;
                var task = handler.HandleAsync(context);
                Assert.True(task.IsCompletedSuccessfully, "GET by id should complete synchronously here");
                Assert.Equal(200, context.Response.StatusCode);
            });

            // Every GET wrote the user (about 1.5 KB), not an error or an empty body.
            Assert.True(written.Count > 101 * 1000, $"only {written.Count} bytes written by 101 GETs");
            Assert.True(bytes <= AllocationBudgets.GetUserById, $"{bytes} B per GET (incl. the test's DefaultHttpContext), budget {AllocationBudgets.GetUserById} B");
        }
        finally
        {
            // Never started, so the shutdown hook that closes the store does not run: close it here.
            await app.DisposeAsync();
            await store.DisposeAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    // A response body that only counts what is written to it (without allocating).
    private sealed class CountingStream : Stream
    {
        public long Count { get; private set; }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => Count;

        public override long Position { get => Count; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Count += count;

        public override void Write(ReadOnlySpan<byte> buffer) => Count += buffer.Length;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Count += buffer.Length;
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private static DefaultHttpContext Context(string method, string path, string token)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("127.0.0.1", 8080);
        context.Request.Path = path;
        context.Request.Headers.Authorization = "Bearer " + token;
        return context;
    }
}
