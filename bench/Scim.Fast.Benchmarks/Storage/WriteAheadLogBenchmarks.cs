using BenchmarkDotNet.Attributes;

using Scim.Fast.Storage.Log;

namespace Scim.Fast.Benchmarks.Storage;

/// <summary>
/// Durable appends of a 1 KiB record (about one stored user) to the write-ahead log on this
/// machine's disk: one commit per append against group commit, with 1 and 64 concurrent writers.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 8)]
public class WriteAheadLogBenchmarks
{
    private const int AppendsPerInvoke = 512;
    private static readonly byte[] s_record = new byte[1024];

    private string _directory = "";
    private WriteAheadLog _log = null!;

    [Params(DurabilityMode.PerAppend, DurabilityMode.GroupCommit)]
    public DurabilityMode Durability { get; set; }

    [Params(1, 64)]
    public int Writers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "scim-fast-bench-wal-" + Guid.NewGuid().ToString("N"));
        _log = WriteAheadLog.Open(_directory, new WriteAheadLogOptions { Durability = Durability });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _log.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = AppendsPerInvoke, Description = "durable append")]
    public async Task Append()
    {
        var writers = new Task[Writers];
        for (int w = 0; w < writers.Length; w++)
        {
            writers[w] = Task.Run(async () =>
            {
                for (int i = 0; i < AppendsPerInvoke / Writers; i++)
                {
                    await _log.AppendAsync(s_record);
                }
            });
        }

        await Task.WhenAll(writers);
    }
}
