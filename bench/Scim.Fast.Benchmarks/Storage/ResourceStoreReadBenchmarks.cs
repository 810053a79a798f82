using BenchmarkDotNet.Attributes;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Benchmarks.Storage;

/// <summary>Point reads with 1,000,000 users stored: by id, and by userName through the unique index.</summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 8)]
public class ResourceStoreReadBenchmarks
{
    private const int Users = 1_000_000;
    private string _directory = "";
    private ResourceStore _store = null!;
    private string[] _ids = [];
    private string[] _userNames = [];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "scim-fast-bench-store-" + Guid.NewGuid().ToString("N"));
        _store = ResourceStore.Open(_directory, new ResourceStoreOptions { KeyValue = new Scim.Fast.Storage.Kv.FasterByteStoreOptions { MemoryBytes = 1L << 30, IndexBytes = 1L << 27 } });
        _ids = new string[Users];
        _userNames = new string[Users];
        var body = new byte[500];
        for (int start = 0; start < Users; start += 10_000)
        {
            var batch = new List<NewResource>(10_000);
            for (int i = start; i < start + 10_000; i++)
            {
                _ids[i] = Guid.NewGuid().ToString();
                _userNames[i] = "user" + i + "@example.com";
                batch.Add(new NewResource(_ids[i], _userNames[i], "ext-" + i, body));
            }

            _store.CreateBatchAsync(TenantId.Default, 1, batch).AsTask().GetAwaiter().GetResult();
        }

        // Visit users in a scattered order, as identity providers do.
        Random.Shared.Shuffle(_ids);
        Random.Shared.Shuffle(_userNames);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true, Description = "get by id")]
    public StoredResource? GetById() => _store.Get(TenantId.Default, 1, _ids[_next++ % Users]);

    [Benchmark(Description = "userName → id → resource")]
    public StoredResource? FindByUserName()
    {
        string? id = _store.FindByUniqueKey(TenantId.Default, 1, _userNames[_next++ % Users]);
        return id is null ? null : _store.Get(TenantId.Default, 1, id);
    }
}
