using System.Diagnostics;
using System.Globalization;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Benchmarks.Storage;

/// <summary>
/// Adding and removing one member of a group of N members against a group of 10, durable each.
/// Run: dotnet run -c Release --project bench/Scim.Fast.Benchmarks -- store-members [members] [operations]
/// </summary>
internal static class StoreMembersRun
{
    public static async Task RunAsync(string[] args)
    {
        int members = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
        int operations = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2_000;
        string directory = Path.Combine(Path.GetTempPath(), "scim-fast-store-members-" + Guid.NewGuid().ToString("N"));
        var tenant = TenantId.Default;
        await using (var store = ResourceStore.Open(directory, new ResourceStoreOptions { KeyValue = new Scim.Fast.Storage.Kv.FasterByteStoreOptions { MemoryBytes = 1L << 30, IndexBytes = 1L << 27 } }))
        {
            long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var clock = Stopwatch.StartNew();
            for (int start = 0; start < members; start += 10_000)
            {
                await store.ChangeMembersAsync(tenant, "big", false, [.. Enumerable.Range(start, Math.Min(10_000, members - start)).Select(i => "member-" + i)], []);
            }

            await store.ChangeMembersAsync(tenant, "small", false, [.. Enumerable.Range(0, 10).Select(i => "member-" + i)], []);
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            Console.WriteLine($"built a group of {store.MemberCount(tenant, "big"):N0} members in {clock.Elapsed.TotalSeconds:F1} s, {allocated / Math.Max(1, members):N0} B allocated a member");

            // Interleave the two groups so both see the same machine conditions.
            var big = new List<double>(operations);
            var small = new List<double>(operations);
            for (int i = 0; i < operations; i++)
            {
                foreach (var (group, samples) in new[] { ("big", big), ("small", small) })
                {
                    long begin = Stopwatch.GetTimestamp();
                    await store.ChangeMembersAsync(tenant, group, false, ["new-" + i], []);
                    await store.ChangeMembersAsync(tenant, group, false, [], ["new-" + i]);
                    samples.Add(Stopwatch.GetElapsedTime(begin).TotalMilliseconds / 2);
                }
            }

            Console.WriteLine($"add or remove one member, durable: group of {members:N0}: {Describe(big)}; group of 10: {Describe(small)}");
        }

        Directory.Delete(directory, recursive: true);
    }

    private static string Describe(List<double> samples)
    {
        samples.Sort();
        double P(double q) => samples[(int)Math.Min(samples.Count - 1, q * samples.Count)];
        return $"p50 {P(0.50):F2} ms, p99 {P(0.99):F2} ms";
    }
}
