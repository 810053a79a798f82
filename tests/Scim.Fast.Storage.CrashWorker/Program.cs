using System.Globalization;
using System.Text;

using Scim.Fast.Storage.Log;
using Scim.Fast.Storage.Resources;

// Usage: CrashWorker <directory> <GroupCommit|PerAppend|store> <first sequence number> <writers>
// Appends records "seq:<n>:<payload>" from concurrent writers forever; after each append is durable,
// prints "ack <n>". The parent kills the process; nothing here shuts down cleanly on purpose.
string directory = args[0];
if (args[1] == "store")
{
    await RunStoreAsync(directory, long.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture));
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

// The resource store under load: creates (and some replaces) with unique names, checkpoints in the
// background; prints "ack <n> <version>" once a write is acknowledged.
static async Task RunStoreAsync(string directory, long first, int writers)
{
    var options = new ResourceStoreOptions
    {
        Log = new WriteAheadLogOptions { PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 22 },
        KeyValue = new Scim.Fast.Storage.Kv.FasterByteStoreOptions { MemoryBytes = 1L << 22, PageBytes = 1L << 16, IndexBytes = 1L << 20 },
    };
    var store = ResourceStore.Open(directory, options);
    long next = first - 1;
    var output = Console.Out;
    Console.WriteLine("ready");
    _ = Task.Run(async () =>
    {
        while (true)
        {
            await Task.Delay(100);
            await store.CheckpointAsync();
        }
    });
    var tasks = new Task[writers];
    for (int w = 0; w < writers; w++)
    {
        tasks[w] = Task.Run(async () =>
        {
            var random = new Random();
            while (true)
            {
                long n = Interlocked.Increment(ref next);
                string id = "u" + n;
                // Lookup keys too: one of its own and one shared with a few dozen others (a shared
                // id list is a read-modify-write under the store's stripes).
                var (status, version) = await store.CreateAsync(TenantId.Default, 1, id, "User" + n, "ext" + (n % 13), Encoding.UTF8.GetBytes("v1:" + n + ":" + new string('x', random.Next(10, 2000))),
                    [new IndexEntry(IndexEntry.FirstLookupIndex, "OWN" + n), new IndexEntry(IndexEntry.FirstLookupIndex, "MAIL" + (n % 997))]);
                Ack(status, n, version);
                if (random.Next(4) == 0)
                {
                    (status, version) = await store.ReplaceAsync(TenantId.Default, 1, id, version, "user" + n + ".renamed", "ext" + (n % 7), Encoding.UTF8.GetBytes("v2:" + n),
                        [new IndexEntry(IndexEntry.FirstLookupIndex, "MAIL" + (n % 991))]);
                    Ack(status, n, version);
                }
            }
        });
    }

    await Task.WhenAll(tasks);

    void Ack(StoreStatus status, long n, long version)
    {
        if (status != StoreStatus.Ok)
        {
            Console.Error.WriteLine($"write {n} failed: {status}");
            Environment.Exit(3);
        }

        lock (output)
        {
            output.WriteLine($"ack {n} {version}");
            output.Flush();
        }
    }
}
