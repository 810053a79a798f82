using System.Globalization;
using System.Text;

using Scim.Fast.Storage.Log;
using Scim.Fast.Storage.Resources;

// Usage: CrashWorker <directory> <GroupCommit|PerAppend|store|truncate> <first sequence number> <writers>
// Appends records "seq:<n>:<payload>" from concurrent writers forever; after each append is durable,
// prints "ack <n>". The parent kills the process; nothing here shuts down cleanly on purpose.
string directory = args[0];
if (args[1] == "store")
{
    await RunStoreAsync(directory, long.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture));
    return;
}

if (args[1] == "truncate")
{
    await RunTruncatingAsync(directory, long.Parse(args[2], CultureInfo.InvariantCulture));
    return;
}

var mode = Enum.Parse<DurabilityMode>(args[1]);
long next = long.Parse(args[2], CultureInfo.InvariantCulture) - 1;
int writers = int.Parse(args[3], CultureInfo.InvariantCulture);

var log = WriteAheadLog.Open(directory, new WriteAheadLogOptions { Durability = mode, PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 22 });
var output = Console.Out;
Console.WriteLine("ready");
var tasks = new Task[writers];
for (int w = 0; w < writers; w++)
{
    tasks[w] = Task.Run(async () =>
    {
        var random = new Random();
        while (true)
        {
            long n = Interlocked.Increment(ref next);

            // Payloads of varied size, some spanning many sectors, so torn writes are possible.
            string payload = new('x', random.Next(10, 3000));
            await log.AppendAsync(Encoding.UTF8.GetBytes($"seq:{n}:{payload.Length}:{payload}"));
            lock (output)
            {
                output.WriteLine($"ack {n}");
                output.Flush();
            }
        }
    });
}

await Task.WhenAll(tasks);

// One writer, each append its own group commit, and in the first 400 appends the log truncated below
// the record 40 back every 50, on 16 KiB segments, so truncation deletes segment files; after that
// only commits (several metadata intervals' worth before the parent kills). Prints "ack <n>" once durable and
// "trunc <n>" once TruncateUntil returned for the records before n. Single writer: sequence order is
// log order.
static async Task RunTruncatingAsync(string directory, long first)
{
    var log = WriteAheadLog.Open(directory, new WriteAheadLogOptions { PageSizeBits = 12, MemorySizeBits = 15, SegmentSizeBits = 14 });
    var addresses = new Queue<(long Sequence, long Address)>();
    var random = new Random();
    Console.WriteLine("ready");
    for (long n = first; ; n++)
    {
        string payload = new('x', random.Next(10, 2000));
        long address = await log.AppendAsync(Encoding.UTF8.GetBytes($"seq:{n}:{payload.Length}:{payload}"));
        Console.WriteLine($"ack {n}");
        addresses.Enqueue((n, address));
        if (addresses.Count > 40 && n % 50 == 0 && n - first < 400)
        {
            var (sequence, keep) = addresses.Dequeue();
            while (addresses.Count > 40)
            {
                (sequence, keep) = addresses.Dequeue();
            }

            log.TruncateUntil(keep);
            Console.WriteLine($"trunc {sequence}");
        }

        Console.Out.Flush();
    }
}

// The resource store under load, every kind of write: creates (some replaced, some deleted, some
// added to one of five groups), and /Bulk-style batches, with unique, lookup and ordered keys;
// checkpoints in the background every 100 ms, which let writes go on while they flush. Prints
// "try d <n>" before a delete and, once a write is acknowledged, "ack c <n> <version>" (create or
// replace), "ack d <n>", "ack m <n>" (member of group g<n % 5>), "ack b <n> <count>" (batch b<n>-0…).
// Any failure (a write refused, a writer or checkpoint throwing) exits with a message and code 3:
// the parent fails the round unless it was the kill that ended the process.
static async Task RunStoreAsync(string directory, long first, int writers)
{
    var options = new ResourceStoreOptions
    {
        Log = new WriteAheadLogOptions { PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 22 },
        KeyValue = new Scim.Fast.Storage.Kv.FasterByteStoreOptions { MemoryBytes = 1L << 22, PageBytes = 1L << 16, IndexBytes = 1L << 20 },
    };
    var store = ResourceStore.Open(directory, options);
    long next = first - 1;
    long stamp = first * 10;
    var output = Console.Out;
    Console.WriteLine("ready");
    _ = Task.Run(async () =>
    {
        try
        {
            while (true)
            {
                await Task.Delay(100);
                await store.CheckpointAsync();
            }
        }
        catch (Exception e)
        {
            Fail("checkpoint failed: " + e);
        }
    });
    var tasks = new Task[writers];
    for (int w = 0; w < writers; w++)
    {
        tasks[w] = Task.Run(async () =>
        {
            try
            {
                await WriteAsync();
            }
            catch (Exception e)
            {
                Fail("a writer died: " + e);
            }
        });
    }

    await Task.WhenAll(tasks);

    async Task WriteAsync()
    {
        var random = new Random();
        while (true)
        {
            long n = Interlocked.Increment(ref next);
            string id = "u" + n;
            if (n % 10 == 9)
            {
                // The batch path: twenty creates, one durable record.
                var batch = Enumerable.Range(0, 20).Select(k => new NewResource($"b{n}-{k}", $"Batch{n}-{k}", null, Encoding.UTF8.GetBytes($"b:{n}:{k}"), [new IndexEntry(IndexEntry.FirstLookupIndex, "MAIL" + (n % 997))])).ToList();
                var results = await store.CreateBatchAsync(TenantId.Default, 1, batch);
                foreach (var (status, _) in results)
                {
                    Check(status, n);
                }

                Print($"ack b {n} {batch.Count}");
                continue;
            }

            // Lookup keys too: one of its own and one shared with a few dozen others (a shared
            // id list is a read-modify-write under the store's stripes).
            // Ordered keys too (by id, by name, and a stamp that moves on every write, like
            // meta.lastModified): the checkpoints' snapshot of them is taken while writes go on.
            var (created, version) = await store.CreateAsync(TenantId.Default, 1, id, "User" + n, "ext" + (n % 13), Encoding.UTF8.GetBytes("v1:" + n + ":" + new string('x', random.Next(10, 2000))),
                [new IndexEntry(0, id), new IndexEntry(1, "USER" + n), new IndexEntry(2, Stamp()), new IndexEntry(IndexEntry.FirstLookupIndex, "OWN" + n), new IndexEntry(IndexEntry.FirstLookupIndex, "MAIL" + (n % 997))]);
            Check(created, n);
            Print($"ack c {n} {version}");
            if (random.Next(4) == 0)
            {
                var (replaced, replacedVersion) = await store.ReplaceAsync(TenantId.Default, 1, id, version, "user" + n + ".renamed", "ext" + (n % 7), Encoding.UTF8.GetBytes("v2:" + n),
                    [new IndexEntry(0, id), new IndexEntry(1, "USER" + n + ".RENAMED"), new IndexEntry(2, Stamp()), new IndexEntry(IndexEntry.FirstLookupIndex, "MAIL" + (n % 991))]);
                Check(replaced, n);
                Print($"ack c {n} {replacedVersion}");
            }

            if (n % 3 == 0)
            {
                Print($"try d {n}");
                Check(await store.DeleteAsync(TenantId.Default, 1, id, null), n);
                Print($"ack d {n}");
            }
            else if (n % 3 == 1)
            {
                await store.ChangeMembersAsync(TenantId.Default, "g" + (n % 5), false, [id], []);
                Print($"ack m {n}");
            }
        }
    }

    string Stamp() => Interlocked.Increment(ref stamp).ToString("D12", System.Globalization.CultureInfo.InvariantCulture);

    void Check(StoreStatus status, long n)
    {
        if (status != StoreStatus.Ok)
        {
            Fail($"write {n} failed: {status}");
        }
    }

    void Print(string line)
    {
        lock (output)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }

    static void Fail(string message)
    {
        Console.Error.WriteLine(message);
        Console.Error.Flush();
        Environment.Exit(3);
    }
}
