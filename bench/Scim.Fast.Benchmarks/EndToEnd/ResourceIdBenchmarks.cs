using BenchmarkDotNet.Attributes;

using Scim.Fast.Server.Protocol;

namespace Scim.Fast.Benchmarks.EndToEnd;

/// <summary>
/// A new resource's id: <see cref="Guid.NewGuid"/> (a read of the kernel's random source per id)
/// against <see cref="ResourceIds"/> (4 KiB of secure random bytes per 256 ids), both as the
/// 36-character string the resource keeps.
/// </summary>
[MemoryDiagnoser]
public class ResourceIdBenchmarks
{
    [Benchmark(Baseline = true, Description = "Guid.NewGuid().ToString()")]
    public string NewGuid() => Guid.NewGuid().ToString();

    [Benchmark(Description = "ResourceIds.New()")]
    public string Buffered() => ResourceIds.New();
}
