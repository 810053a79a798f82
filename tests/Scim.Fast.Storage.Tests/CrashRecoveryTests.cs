using System.Diagnostics;
using System.Globalization;
using System.Text;

using Scim.Fast.Storage.Log;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// Durability, tested by killing: a child process appends under load and prints an acknowledgement
/// for each durable append; it is killed with SIGKILL at a random moment; after reopening, every
/// acknowledged record must be there and intact. Several rounds on the same log.
/// </summary>
public sealed class CrashRecoveryTests
{
    private static string WorkerPath()
    {
        // Built next to this project (see the ProjectReference); same configuration and framework.
        string here = AppContext.BaseDirectory;
        string worker = Path.GetFullPath(Path.Combine(here, "..", "..", "..", "..", "Scim.Fast.Storage.CrashWorker", "bin",
            new DirectoryInfo(here).Parent!.Name, new DirectoryInfo(here).Name, "Scim.Fast.Storage.CrashWorker.dll"));
        Assert.True(File.Exists(worker), "crash worker not built at " + worker);
        return worker;
    }

    [Fact]
    public async Task ResourceStore_KilledWithSigkill_KeepsEveryAcknowledgedWrite_AndConsistentIndexes()
    {
        using var directory = new TempDirectory();
        var random = new Random(4321);
        var versions = new Dictionary<long, long>();      // created (or replaced) → acknowledged version
        var deleted = new HashSet<long>();                // delete acknowledged
        var deleting = new HashSet<long>();               // delete attempted (may or may not have happened)
        var members = new HashSet<long>();                // member add acknowledged
        var batches = new Dictionary<long, int>();        // batch acknowledged → size
        long nextSequence = 1;
        int fromSnapshot = 0;
        const byte Lookup = Resources.IndexEntry.FirstLookupIndex;
        var tenant = Resources.TenantId.Default;
        for (int round = 0; round < 4; round++)
        {
            var lines = await RunAndKillAsync(directory.Path, "store", nextSequence, random.Next(300, 1200));
            Assert.True(lines.Count(l => l.StartsWith("ack ", StringComparison.Ordinal)) > 10, $"round {round}: almost nothing acknowledged");
            foreach (var line in lines)
            {
                var parts = line.Split(' ');
                long n = long.Parse(parts[2], CultureInfo.InvariantCulture);
                switch ((parts[0], parts[1]))
                {
                    case ("ack", "c"):
                        versions[n] = Math.Max(versions.GetValueOrDefault(n), long.Parse(parts[3], CultureInfo.InvariantCulture));
                        break;
                    case ("try", "d"):
                        deleting.Add(n);
                        break;
                    case ("ack", "d"):
                        deleted.Add(n);
                        break;
                    case ("ack", "m"):
                        members.Add(n);
                        break;
                    case ("ack", "b"):
                        batches[n] = int.Parse(parts[3], CultureInfo.InvariantCulture);
                        break;
                }
            }

            await using var store = Resources.ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
            fromSnapshot += store.OrderedIndexesFromSnapshot ? 1 : 0;
            foreach (var (n, version) in versions)
            {
                var stored = store.Get(tenant, 1, "u" + n);
                if (deleted.Contains(n))
                {
                    // Gone, and from every index.
                    Assert.True(stored is null, $"round {round}: acknowledged delete {n} undone");
                    Assert.Null(store.FindByUniqueKey(tenant, 1, "User" + n));
                    Assert.Null(store.FindByUniqueKey(tenant, 1, "user" + n + ".renamed"));
                    Assert.Equal([], store.FindByLookup(tenant, 1, Lookup, "OWN" + n));
                    continue;
                }

                if (stored is null && deleting.Contains(n))
                {
                    continue; // a delete that was not acknowledged may have happened
                }

                Assert.True(stored is not null, $"round {round}: acknowledged write {n} lost");
                Assert.True(stored!.Version >= version, $"round {round}: {n} is at version {stored.Version}, acknowledged {version}");
                string body = Encoding.UTF8.GetString(stored.Body);
                Assert.StartsWith((stored.Version == 1 ? "v1:" : "v2:") + n, body, StringComparison.Ordinal);
                string expectedName = stored.Version == 1 ? "User" + n : "user" + n + ".renamed";
                Assert.Equal("u" + n, store.FindByUniqueKey(tenant, 1, expectedName));

                // The lookup entries moved with the write that was acknowledged, all or nothing.
                var own = store.FindByLookup(tenant, 1, Lookup, "OWN" + n);
                var shared = store.FindByLookup(tenant, 1, Lookup, stored.Version == 1 ? "MAIL" + (n % 997) : "MAIL" + (n % 991));
                Assert.NotNull(own);
                Assert.NotNull(shared);
                Assert.Equal(stored.Version == 1 ? ["u" + n] : [], own);
                Assert.Contains("u" + n, shared);
            }

            // Memberships both ways; every batch whole.
            foreach (var n in members)
            {
                Assert.True(store.IsMember(tenant, "g" + (n % 5), "u" + n), $"round {round}: acknowledged member u{n} missing from g{n % 5}");
                Assert.Contains("g" + (n % 5), store.GetGroupsOf(tenant, "u" + n));
            }

            foreach (var (n, size) in batches)
            {
                for (int k = 0; k < size; k++)
                {
                    Assert.True(store.Get(tenant, 1, $"b{n}-{k}") is not null, $"round {round}: batch {n} item {k} lost");
                    Assert.Equal($"b{n}-{k}", store.FindByUniqueKey(tenant, 1, $"Batch{n}-{k}"));
                }
            }

            var problems = store.Verify();
            Assert.True(problems.Count == 0, $"round {round}: verify found {problems.Count} problems: {string.Join("; ", problems.Take(5))}");
            nextSequence = Math.Max(versions.Keys.DefaultIfEmpty(0).Max(), batches.Keys.DefaultIfEmpty(0).Max()) + 1_000_000;
        }

        Assert.True(deleted.Count > 0 && members.Count > 0 && batches.Count > 0, "every kind of write must have been acknowledged at least once");

        // The ordered indexes came from a snapshot saved while writes went on (Verify above held
        // them against every record), not only from rebuilds.
        Assert.True(fromSnapshot > 0, "no round reopened from a checkpoint's ordered-index snapshot");
    }

    // Starts the worker, lets it write until it acknowledged enough writes and then for a while, SIGKILLs it; returns what it printed.
    private static async Task<List<string>> RunAndKillAsync(string directory, string mode, long firstSequence, int millisecondsBeforeKill, int acknowledgedBeforeKill = 20)
    {
        bool wholeLines = mode is "store" or "truncate";
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "exec", WorkerPath(), directory, mode, firstSequence.ToString(CultureInfo.InvariantCulture), "8" })
        {
            start.ArgumentList.Add(arg);
        }

        using var worker = Process.Start(start)!;
        var acks = new List<string>();
        var ready = new TaskCompletionSource();
        var reading = Task.Run(async () =>
        {
            while (await worker.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line == "ready")
                {
                    ready.TrySetResult();
                }
                else if (line.StartsWith("ack ", StringComparison.Ordinal) || (wholeLines && (line.StartsWith("try ", StringComparison.Ordinal) || line.StartsWith("trunc ", StringComparison.Ordinal))))
                {
                    lock (acks)
                    {
                        acks.Add(wholeLines ? line : line[4..]);
                    }
                }
            }

            ready.TrySetResult();
        });

        await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        if (worker.HasExited)
        {
            Assert.Fail("worker died on its own: " + await worker.StandardError.ReadToEndAsync());
        }

        // The kill comes after the first acknowledgements (a busy machine may take a while to
        // give any), then at a random moment.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!worker.HasExited && DateTime.UtcNow < deadline)
        {
            lock (acks)
            {
                if (acks.Count(a => !a.StartsWith("try ", StringComparison.Ordinal)) >= acknowledgedBeforeKill)
                {
                    break;
                }
            }

            await Task.Delay(10);
        }

        await Task.Delay(millisecondsBeforeKill);

        // Only the kill may end the worker: one that exited before it failed (a write refused, a
        // writer or a checkpoint threw).
        bool exitedOnItsOwn = worker.HasExited;
        if (!exitedOnItsOwn)
        {
            worker.Kill(); // SIGKILL on Linux: no finalizers, no flush, no dispose
        }

        await worker.WaitForExitAsync();
        await reading;
        Assert.False(exitedOnItsOwn || worker.ExitCode == 3, $"the worker exited before the kill (code {worker.ExitCode}): " + await worker.StandardError.ReadToEndAsync());
        lock (acks)
        {
            return [.. acks];
        }
    }

    [Theory]
    [InlineData(DurabilityMode.GroupCommit)]
    [InlineData(DurabilityMode.PerAppend)]
    public async Task KilledWithSigkill_EveryAcknowledgedAppendSurvives(DurabilityMode mode)
    {
        using var directory = new TempDirectory();
        var random = new Random(1234);
        var acknowledged = new HashSet<long>();
        long nextSequence = 1;
        for (int round = 0; round < 4; round++)
        {
            var roundAcks = await RunAndKillAsync(directory.Path, mode.ToString(), nextSequence, random.Next(150, 900));
            Assert.True(roundAcks.Count > 0, $"round {round}: the worker acknowledged nothing before being killed");
            acknowledged.UnionWith(roundAcks.Select(a => long.Parse(a, CultureInfo.InvariantCulture)));

            // Recover: every acknowledged sequence number is present, every record intact.
            var present = new HashSet<long>();
            using (var log = WriteAheadLog.Open(directory.Path, new WriteAheadLogOptions { PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 22 }))
            {
                foreach (var (_, record) in log.ReadCommitted())
                {
                    string text = Encoding.UTF8.GetString(record);
                    string[] parts = text.Split(':', 4);
                    Assert.Equal("seq", parts[0]);
                    Assert.Equal(int.Parse(parts[2], CultureInfo.InvariantCulture), parts[3].Length);
                    Assert.All(parts[3], c => Assert.Equal('x', c));
                    present.Add(long.Parse(parts[1], CultureInfo.InvariantCulture));
                }
            }

            var lost = acknowledged.Where(a => !present.Contains(a)).Take(10).ToList();
            Assert.True(lost.Count == 0, $"round {round}: acknowledged but lost after SIGKILL: {string.Join(", ", lost)}");
            nextSequence = Math.Max(present.Count == 0 ? 0 : present.Max(), acknowledged.Max()) + 1_000_000;
        }
    }
    // The log writes FASTER's commit metadata file only every MetadataCommitInterval commits, and
    // whenever truncation moves the log's start (segment files are deleted then). Recovery scans
    // forward from the last file. One writer, each append its own commit; truncations in the first
    // 400 appends of a round, then several intervals' worth of commits after the last file, then SIGKILL:
    // every acknowledged record after the last truncation must come back, and the log must open.
    [Fact]
    public async Task KilledWithSigkill_AfterTruncationsAndManyCommits_EveryAcknowledgedAppendSurvives()
    {
        using var directory = new TempDirectory();
        var random = new Random(4321);
        var acknowledged = new HashSet<long>();
        long keptFrom = 0;
        long nextSequence = 1;
        int truncations = 0;
        for (int round = 0; round < 3; round++)
        {
            var lines = await RunAndKillAsync(directory.Path, "truncate", nextSequence, random.Next(0, 300), acknowledgedBeforeKill: WriteAheadLog.MetadataCommitInterval + 600);
            foreach (string line in lines)
            {
                long n = long.Parse(line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
                if (line.StartsWith("trunc ", StringComparison.Ordinal))
                {
                    keptFrom = Math.Max(keptFrom, n);
                    truncations++;
                }
                else
                {
                    acknowledged.Add(n);
                }
            }

            var present = new HashSet<long>();
            using (var log = WriteAheadLog.Open(directory.Path, new WriteAheadLogOptions { PageSizeBits = 12, MemorySizeBits = 15, SegmentSizeBits = 14 }))
            {
                foreach (var (_, record) in log.ReadCommitted())
                {
                    string[] parts = Encoding.UTF8.GetString(record).Split(':', 4);
                    Assert.Equal("seq", parts[0]);
                    Assert.Equal(int.Parse(parts[2], CultureInfo.InvariantCulture), parts[3].Length);
                    present.Add(long.Parse(parts[1], CultureInfo.InvariantCulture));
                }
            }

            var lost = acknowledged.Where(a => a >= keptFrom && !present.Contains(a)).Order().Take(10).ToList();
            Assert.True(lost.Count == 0, $"round {round}: acknowledged after the last truncation (from {keptFrom}) but lost after SIGKILL: {string.Join(", ", lost)}");
            nextSequence = acknowledged.Max() + 1_000_000;
        }

        Assert.True(truncations >= 3, $"the worker truncated {truncations} times");
    }
}
