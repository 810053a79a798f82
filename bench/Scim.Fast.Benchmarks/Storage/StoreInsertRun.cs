using System.Diagnostics;
using System.Globalization;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Benchmarks.Storage;

/// <summary>
/// A timed run too long for BenchmarkDotNet: batch-insert N users into a fresh store on disk with
/// every index the server keeps for a user (userName unique, externalId, ordered id, userName and
/// lastModified, emails.value lookup; "none" leaves the ordered and lookup ones out), checkpoint
/// (with a lone writer alongside), reopen. Prints users/s, disk and memory per user, and recovery time.
/// Run: dotnet run -c Release --project bench/Scim.Fast.Benchmarks -- store-insert [users] [batch] [memory MiB] [all|none]
/// </summary>
internal static class StoreInsertRun
{
    public static async Task RunAsync(string[] args)
    {
        // Thread-pool threads as the server starts them (Scim:MinThreads, 8). With FASTER's managed
        // device, which ran each page write as a blocking write on a pool thread, a checkpoint's flush
        // starved the log commits of the writer alongside it below 128; STORE_INSERT_MIN_THREADS
        // sets another minimum to compare.
        int minThreads = int.TryParse(Environment.GetEnvironmentVariable("STORE_INSERT_MIN_THREADS"), CultureInfo.InvariantCulture, out int set) ? set : 8;
        ThreadPool.GetMinThreads(out int workers, out int completions);
        ThreadPool.SetMinThreads(Math.Max(workers, minThreads), Math.Max(completions, minThreads));
        int users = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
        int batchSize = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1_000;
        long memoryMiB = args.Length > 3 ? long.Parse(args[3], CultureInfo.InvariantCulture) : 256;
        bool allIndexes = args.Length <= 4 || args[4] != "none";
        string directory = Path.Combine(Path.GetTempPath(), "scim-fast-store-insert-" + Guid.NewGuid().ToString("N"));
        var options = new ResourceStoreOptions
        {
            KeyValue = new Scim.Fast.Storage.Kv.FasterByteStoreOptions { MemoryBytes = memoryMiB << 20, IndexBytes = 1L << 27 },
        };
        var random = new Random(42);
        var everything = ScimProjection.Everything(ScimResourceTypes.User);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        long heapHalf = 0;
        int usersAtHalf = 0;
        var clock = Stopwatch.StartNew();
        await using (var store = ResourceStore.Open(directory, options))
        {
            // Like an importer with two batches in flight: the next batch is built while the store
            // commits and applies the previous one (batches still enter the store one at a time).
            Task<(StoreStatus Status, long Version)[]>? inFlight = null;
            for (int start = 0; start < users; start += batchSize)
            {
                var batch = new List<NewResource>(batchSize);
                for (int i = start; i < Math.Min(users, start + batchSize); i++)
                {
                    var user = Filter.SampleUsers.Create(random, i);
                    buffer.ResetWrittenCount();
                    UserSerializer.Instance.Write(buffer, user, everything);
                    // Ids as the server draws them (random version 4 UUIDs): fresh, not looked up.
                    batch.Add(new NewResource(user.Id!, user.UserName, user.ExternalId, buffer.WrittenSpan.ToArray(), allIndexes ? IndexEntries(user) : null, IdIsFresh: true));
                }

                if (inFlight is not null)
                {
                    EnsureCreated(await inFlight);
                }

                // Halfway, the heap once more (the clock stopped meanwhile): what the second half
                // adds is what each user costs, apart from the fixed buffers (FASTER's log pages
                // and hash index are allocated up front and fill the heap before the first user).
                if (start == users / 2 / batchSize * batchSize && start > 0)
                {
                    clock.Stop();
                    heapHalf = GC.GetTotalMemory(forceFullCollection: true);
                    usersAtHalf = start;
                    clock.Start();
                }

                inFlight = store.CreateBatchAsync(TenantId.Default, 1, batch).AsTask();
            }

            if (inFlight is not null)
            {
                EnsureCreated(await inFlight);
            }

            double insertSeconds = clock.Elapsed.TotalSeconds;
            long heapAfter = GC.GetTotalMemory(forceFullCollection: true);
            long workingSet = Process.GetCurrentProcess().WorkingSet64;
            // One writer creates users one at a time (each durable) through the checkpoint, as
            // an identity provider's sync would: how many it gets done meanwhile and its slowest
            // write show what the checkpoint costs writers.
            using var stopWriting = new CancellationTokenSource();
            long written = 0;
            double slowestMs = 0;
            var writer = Task.Run(async () =>
            {
                var late = new Random(7);
                for (int i = users; !stopWriting.IsCancellationRequested; i++)
                {
                    var user = Filter.SampleUsers.Create(late, i);
                    buffer.ResetWrittenCount();
                    UserSerializer.Instance.Write(buffer, user, everything);
                    long started = Stopwatch.GetTimestamp();
                    var (status, _) = await store.CreateAsync(TenantId.Default, 1, user.Id!, user.UserName, user.ExternalId, buffer.WrittenSpan.ToArray(), allIndexes ? IndexEntries(user) : null);
                    EnsureCreated([(status, 0)]);
                    slowestMs = Math.Max(slowestMs, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    Interlocked.Increment(ref written);
                }
            });
            while (Interlocked.Read(ref written) < 100)
            {
                await Task.Delay(1);
            }

            clock.Restart();
            long writtenBefore = Interlocked.Read(ref written);
            slowestMs = 0;
            await store.CheckpointAsync();
            double checkpointSeconds = clock.Elapsed.TotalSeconds;
            long writtenAtEnd = Interlocked.Read(ref written);
            long writtenDuring = writtenAtEnd - writtenBefore;

            // The write in flight when the checkpoint ended counts too (with writes paused for the
            // whole checkpoint, that one waited all along).
            while (Interlocked.Read(ref written) == writtenAtEnd)
            {
                await Task.Delay(1);
            }

            double slowestDuring = slowestMs;
            stopWriting.Cancel();
            await writer;
            long disk = DirectorySize(directory);
            Console.WriteLine($"users {users:N0}, batch {batchSize}, memory budget {memoryMiB} MiB, indexes {(allIndexes ? "all (ordered id, userName, lastModified; emails lookup)" : "unique userName and externalId only")}: insert {insertSeconds:F1} s ({users / insertSeconds:N0} users/s, durable per batch)");
            Console.WriteLine($"checkpoint {checkpointSeconds:F1} s, writes paused {store.LastCheckpointPause.TotalMilliseconds:F0} ms; a lone writer alongside completed {writtenDuring:N0} durable creates during it, slowest {slowestDuring:F0} ms");
            Console.WriteLine($"disk {disk / (double)users:F0} B/user; managed heap {(heapAfter - heapBefore) / (double)users:F0} B/user; working set {workingSet / (double)users:F0} B/user");
            if (usersAtHalf > 0)
            {
                Console.WriteLine($"managed heap added per user over the second half: {(heapAfter - heapHalf) / (double)(users - usersAtHalf):F0} B/user (before the first user the store held {(heapHalf - heapBefore - (heapAfter - heapHalf) / (double)(users - usersAtHalf) * usersAtHalf) / (1 << 20):F0} MiB of fixed buffers, estimated)");
            }
        }

        clock.Restart();
        await using (var reopened = ResourceStore.Open(directory, options))
        {
            double recoverySeconds = clock.Elapsed.TotalSeconds;
            bool found = reopened.FindByUniqueKey(TenantId.Default, 1, "USER" + (users - 1) + "@EXAMPLE.COM") is not null;
            bool foundByEmail = !allIndexes || reopened.FindByLookup(TenantId.Default, 1, IndexEntry.FirstLookupIndex, "HOME" + (users - 1) + "@EXAMPLE.ORG")?.Count == 1;
            reopened.WaitForOrderedIndexes();
            double loadedSeconds = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"reopen (checkpoint + log replay) {recoverySeconds:F1} s, ordered indexes loaded at {loadedSeconds:F1} s; last user found by userName: {found}, by email: {foundByEmail}");
        }

        Directory.Delete(directory, recursive: true);
    }

    private static void EnsureCreated((StoreStatus Status, long Version)[] results)
    {
        if (Array.Exists(results, r => r.Status != StoreStatus.Ok))
        {
            throw new InvalidOperationException("a create failed");
        }
    }

    // The entries the server's user endpoint writes: the ordered and lookup keys the User catalogue
    // (schemas/indexes/User.json) declares, collected by the generated code.
    private static List<IndexEntry> IndexEntries(User user)
    {
        var sink = new EntrySink { Entries = new List<IndexEntry>(5) };
        UserIndexes.Collect(user, ref sink);
        return sink.Entries;
    }

    private struct EntrySink : IScimIndexSink
    {
        public List<IndexEntry> Entries;

        public void Add(ScimIndex index, in ScimValue value)
        {
            if (index.Kind is ScimIndexKind.Ordered || (index.Kind is ScimIndexKind.Lookup && index.Number != ScimIndex.Unnumbered))
            {
                Entries.Add(new IndexEntry(index.Number, index.KeyOf(value)));
            }
        }
    }

    private static long DirectorySize(string directory)
    {
        long total = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            total += new FileInfo(file).Length;
        }

        return total;
    }
}
