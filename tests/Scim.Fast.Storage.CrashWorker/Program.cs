using System.Globalization;
using System.Text;

using Scim.Fast.Storage.Log;

// Usage: CrashWorker <directory> <GroupCommit|PerAppend> <first sequence number> <writers>
// Appends records "seq:<n>:<payload>" from concurrent writers forever; after each append is durable,
// prints "ack <n>". The parent kills the process; nothing here shuts down cleanly on purpose.
string directory = args[0];
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
