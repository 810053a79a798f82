using BenchmarkDotNet.Attributes;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Benchmarks.Storage;

/// <summary>
/// The key of a userName's unique entry, for 1,000 typical (ASCII, mixed-case) names: folded with
/// ToUpperInvariant and encoded to UTF-8 (what every unique-name access did) against folded straight
/// into the key's bytes.
/// </summary>
[MemoryDiagnoser]
public class UniqueKeyBenchmarks
{
    private readonly string[] _names = [.. Enumerable.Range(0, 1000).Select(i => $"Barbara.Jensen{i}@Example.com")];

    [Benchmark(Baseline = true, Description = "ToUpperInvariant + UTF-8")]
    public int ByFold()
    {
        int total = 0;
        foreach (string name in _names)
        {
            total += ResourceStore.UniqueKeyByFold(new TenantId(1), 1, name).Length;
        }

        return total;
    }

    [Benchmark(Description = "ASCII folded into the key")]
    public int Direct()
    {
        int total = 0;
        foreach (string name in _names)
        {
            total += ResourceStore.UniqueKey(new TenantId(1), 1, name).Length;
        }

        return total;
    }
}
