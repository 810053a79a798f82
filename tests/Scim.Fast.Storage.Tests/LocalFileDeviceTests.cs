using System.Runtime.InteropServices;

using Scim.Fast.Storage.Kv;
using Scim.Fast.Storage.Log;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// The store's file device on the real disk: removing log segments (a truncation's commit, on an
/// I/O thread) while the device closes (shutdown) must finish, however the two interleave; reads
/// and writes run on the device's own threads, and those given are finished, not dropped, when it closes.
/// </summary>
public sealed class LocalFileDeviceTests
{
    private const int Segments = 8;

    // FASTER's own device hung here within a few rounds: both sides dispose a segment's pool of file
    // handles, and a pool disposed twice at once can wait forever for a handle the other side closed.
    [Fact]
    public async Task RemovingSegmentsWhileTheDeviceCloses_Finishes()
    {
        for (int round = 0; round < 50; round++)
        {
            using var directory = new TempDirectory();
            var device = LocalFileDevice.Open(Path.Combine(directory.Path, "test.log"));

            // A read on each segment opens a file handle and returns it to that segment's pool.
            for (int segment = 0; segment < Segments; segment++)
            {
                await ReadOnceAsync(device, segment);
            }

            using var start = new Barrier(2);
            var removing = Task.Factory.StartNew(
                () =>
                {
                    start.SignalAndWait();
                    for (int segment = 0; segment < Segments; segment++)
                    {
                        device.RemoveSegment(segment);
                    }
                },
                TaskCreationOptions.LongRunning);
            var closing = Task.Factory.StartNew(
                () =>
                {
                    start.SignalAndWait();
                    device.Dispose();
                },
                TaskCreationOptions.LongRunning);

            var both = Task.WhenAll(removing, closing);
            Assert.True(await Task.WhenAny(both, Task.Delay(TimeSpan.FromSeconds(10))) == both, $"round {round}: removing segments and closing the device did not finish in 10 s");
            await both;
        }
    }

    // The path that hung, through the store: writes over several log segments, a checkpoint (which
    // truncates the log: FASTER removes the old segments in an epoch action, often while the store
    // closes; some rounds leave segments behind for the next truncation), and the store closed at
    // once. It did not hang here on FASTER's device in 30 rounds (the test above does); it keeps the
    // shutdown after a truncation covered, and the reopen after it.
    [Fact]
    public async Task ClosingTheStoreRightAfterACheckpoint_Finishes()
    {
        var options = new ResourceStoreOptions
        {
            Log = new WriteAheadLogOptions { PageSizeBits = 12, MemorySizeBits = 14, SegmentSizeBits = 13 },
            KeyValue = new FasterByteStoreOptions { MemoryBytes = 1L << 22, PageBytes = 1L << 16, IndexBytes = 1L << 20 },
        };
        var body = new byte[900];
        body.AsSpan().Fill((byte)'x');
        for (int round = 0; round < 30; round++)
        {
            using var directory = new TempDirectory();
            var store = ResourceStore.Open(directory.Path, options);
            for (int i = 0; i < 64; i++)
            {
                await store.CreateAsync(TenantId.Default, 1, $"u{i}", $"user{i}", null, body);
            }

            await store.CheckpointAsync();
            var closing = store.DisposeAsync().AsTask();
            Assert.True(await Task.WhenAny(closing, Task.Delay(TimeSpan.FromSeconds(10))) == closing, $"round {round}: the store did not close in 10 s after a checkpoint");
            await closing;

            await using var reopened = ResourceStore.Open(directory.Path, options);
            Assert.NotNull(reopened.Get(TenantId.Default, 1, "u63"));
        }
    }

    // Writes and reads run on the device's own threads, not the pool's (a checkpoint's page writes
    // held pool threads in blocking writes and starved the request path; a read waited for
    // synchronously needed pool threads to complete), and land where they were aimed.
    [Fact]
    public async Task WritesAndReads_RunOffThePool()
    {
        using var directory = new TempDirectory();
        using var device = OpenInitialized(directory);
        var (source, address, start) = Aligned(4096);
        for (int i = 0; i < 4096; i++)
        {
            source[start + i] = (byte)(i * 7);
        }

        var (writeError, writtenBytes, onPool) = await Transfer(callback => device.WriteAsync(address, 1, 8192, 4096, callback, null!));
        Assert.Equal(0u, writeError);
        Assert.Equal(4096u, writtenBytes);
        Assert.False(onPool, "the write completed on a thread-pool thread");

        var file = await File.ReadAllBytesAsync(Path.Combine(directory.Path, "test.log.1"));
        Assert.Equal(8192 + 4096, file.Length);
        Assert.Equal(source.AsSpan(start, 4096).ToArray(), file.AsSpan(8192).ToArray());

        // Read back through the device, likewise off the pool; a read past the end is short.
        var (target, into, at) = Aligned(8192);
        var (readError, readBytes, readOnPool) = await Transfer(callback => device.ReadAsync(1, 8192, into, 8192, callback, null!));
        Assert.Equal(0u, readError);
        Assert.Equal(4096u, readBytes);
        Assert.False(readOnPool, "the read completed on a thread-pool thread");
        Assert.Equal(source.AsSpan(start, 4096).ToArray(), target.AsSpan(at, 4096).ToArray());
    }

    // Removing a segment deletes its file (and closes the device's write handle on it), whether
    // this process wrote it through the device's own handles or only found it on disk.
    [Fact]
    public async Task RemovingAWrittenSegment_DeletesItsFile()
    {
        using var directory = new TempDirectory();
        using (var device = OpenInitialized(directory))
        {
            var (source, address, _) = Aligned(512);
            await Transfer(callback => device.WriteAsync(address, 0, 0, 512, callback, null!));
            GC.KeepAlive(source);
            Assert.True(File.Exists(Path.Combine(directory.Path, "test.log.0")));

            device.RemoveSegment(0);
            Assert.False(File.Exists(Path.Combine(directory.Path, "test.log.0")));
        }

        // A segment from an earlier run, found on disk and never opened.
        await File.WriteAllBytesAsync(Path.Combine(directory.Path, "test.log.3"), new byte[512]);
        await File.WriteAllBytesAsync(Path.Combine(directory.Path, "test.log.4"), new byte[512]);
        using var reopened = OpenInitialized(directory);
        reopened.RemoveSegment(3);
        Assert.False(File.Exists(Path.Combine(directory.Path, "test.log.3")));
        Assert.True(File.Exists(Path.Combine(directory.Path, "test.log.4")));
    }

    // Closing finishes the writes already given: each callback runs, none is lost or left hanging.
    [Fact]
    public async Task Closing_FinishesTheWritesGiven()
    {
        using var directory = new TempDirectory();
        var device = OpenInitialized(directory);
        var (source, address, _) = Aligned(512 * 64);
        int completed = 0;
        int failed = 0;
        for (int i = 0; i < 64; i++)
        {
            device.WriteAsync(address + (i * 512), 0, (ulong)(i * 512), 512, (error, _, _) =>
            {
                if (error != 0)
                {
                    Interlocked.Increment(ref failed);
                }

                Interlocked.Increment(ref completed);
            }, null!);
        }

        device.Dispose();
        GC.KeepAlive(source);
        Assert.Equal(64, completed);
        Assert.Equal(0, failed);
        Assert.Equal(64 * 512, new FileInfo(Path.Combine(directory.Path, "test.log.0")).Length);

        // After closing, a write fails through its callback instead of throwing or hanging.
        var (lateError, _, _) = await Transfer(callback => device.WriteAsync(address, 0, 0, 512, callback, null!));
        Assert.NotEqual(0u, lateError);
    }

    // The device on test.log.N in the directory, with 1 MiB segments.
    private static LocalFileDevice OpenInitialized(TempDirectory directory)
    {
        var device = LocalFileDevice.Open(Path.Combine(directory.Path, "test.log"));
        device.Initialize(1L << 20);
        return device;
    }

    // Starts one read or write with a callback that reports its outcome and whether it ran on a
    // thread-pool thread; waits up to 10 s for it.
    private static Task<(uint Error, uint Bytes, bool OnPool)> Transfer(Action<FASTER.core.DeviceIOCompletionCallback> start)
    {
        var done = new TaskCompletionSource<(uint Error, uint Bytes, bool OnPool)>(TaskCreationOptions.RunContinuationsAsynchronously);
        start((error, bytes, _) => done.SetResult((error, bytes, Thread.CurrentThread.IsThreadPoolThread)));
        return done.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    // A pinned array with room for `bytes` from a sector-aligned (512-byte) address: the device
    // reads into and writes from raw memory. Start is that address's index in the array.
    private static (byte[] Array, nint Address, int Start) Aligned(int bytes)
    {
        var array = GC.AllocateArray<byte>(bytes + 512, pinned: true);
        nint first = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        nint address = (first + 511) & ~(nint)511;
        return (array, address, (int)(address - first));
    }

    private static Task ReadOnceAsync(LocalFileDevice device, int segment)
    {
        var (buffer, address, _) = Aligned(512);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        device.ReadAsync(segment, 0, address, 512, (_, _, _) => done.SetResult(), buffer);
        return done.Task;
    }
}
