using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;

using BenchmarkDotNet.Attributes;

namespace Scim.Fast.Benchmarks.EndToEnd;

/// <summary>
/// One request through the server's handler in process (routing, token, store, serialization), with
/// 10,000 users stored. Baseline: writing the same GET response bytes into the same kind of context,
/// which is all a server could do at best (the in-process counterpart of the load suite's baseline).
/// </summary>
[MemoryDiagnoser]
public class RequestPipelineBenchmarks
{
    private const int Users = 10_000;
    private ServerHost _host = null!;
    private string[] _ids = [];
    private byte[] _cannedGet = [];
    private byte[] _patch = [];
    private int _next;
    private long _posted;

    [GlobalSetup]
    public void Setup()
    {
        _host = new ServerHost();
        _ids = new string[Users];
        for (int start = 0; start < Users; start += 1000)
        {
            var operations = new JsonArray();
            for (int i = start; i < start + 1000; i++)
            {
                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + i, ["data"] = User($"bench-{i:D6}@example.com", "ext-" + i) });
            }

            var (status, body) = _host.SendAsync("POST", "/scim/v2/Bulk", new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"),
                ["Operations"] = operations,
            }.ToJsonString()).GetAwaiter().GetResult();
            var results = JsonNode.Parse(body)!["Operations"]!.AsArray();
            for (int i = 0; i < results.Count; i++)
            {
                _ids[start + i] = ((string)results[i]!["location"]!).Split('/')[^1];
            }

            if (status != 200)
            {
                throw new InvalidOperationException(body);
            }
        }

        _cannedGet = Encoding.UTF8.GetBytes(_host.SendAsync("GET", "/scim/v2/Users/" + _ids[0]).GetAwaiter().GetResult().Body);
        _patch = Encoding.UTF8.GetBytes("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Patched\"}]}");
    }

    [GlobalCleanup]
    public void Cleanup() => _host.DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static JsonObject User(string userName, string externalId) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"),
        ["userName"] = userName,
        ["externalId"] = externalId,
        ["name"] = new JsonObject { ["givenName"] = "Bench", ["familyName"] = userName },
        ["emails"] = new JsonArray(new JsonObject { ["type"] = "work", ["primary"] = true, ["value"] = userName }),
    };

    private string NextId() => _ids[(int)((uint)Interlocked.Increment(ref _next) % Users)];

    [Benchmark(Baseline = true, Description = "canned GET response (baseline)")]
    public Task Canned()
    {
        var context = ServerHost.Context("GET", "/scim/v2/Users/" + NextId());
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/scim+json; charset=utf-8";
        context.Response.BodyWriter.Write(_cannedGet);
        return context.Response.BodyWriter.FlushAsync().AsTask();
    }

    [Benchmark(Description = "GET /Users/{id}")]
    public Task GetById() => _host.Handler.HandleAsync(ServerHost.Context("GET", "/scim/v2/Users/" + NextId()));

    [Benchmark(Description = "GET /Users?filter=userName eq")]
    public Task FilterUserName()
    {
        int i = (int)((uint)Interlocked.Increment(ref _next) % Users);
        return _host.Handler.HandleAsync(ServerHost.Context("GET", $"/scim/v2/Users?filter=userName+eq+%22bench-{i:D6}%40example.com%22"));
    }

    [Benchmark(Description = "POST /Users")]
    public Task Post()
    {
        long n = Interlocked.Increment(ref _posted);
        var body = Encoding.UTF8.GetBytes(User($"posted-{n:D9}-{Guid.NewGuid():N}@example.com", "px-" + n).ToJsonString());
        return _host.Handler.HandleAsync(ServerHost.Context("POST", "/scim/v2/Users", new MemoryStream(body)));
    }

    [Benchmark(Description = "PATCH /Users/{id}")]
    public Task Patch() => _host.Handler.HandleAsync(ServerHost.Context("PATCH", "/scim/v2/Users/" + NextId(), new MemoryStream(_patch)));
}
