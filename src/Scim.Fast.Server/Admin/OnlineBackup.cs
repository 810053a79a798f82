using System.Formats.Tar;
using System.IO.Compression;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Admin;

/// <summary>
/// A backup of the running server's data directory as a tar.gz stream, while writes go on.
/// <para>
/// A checkpoint is taken first, then checkpoints (and with them log truncation) are held until the
/// copy ends. The copy is then a consistent store: the key-value checkpoint and the ordered-index
/// snapshot do not change while held; the key-value log below the checkpoint's address is immutable
/// (a fold-over checkpoint flushed it, and later writes go past it); and the write-ahead log, copied
/// last, holds every write since the checkpoint's mark up to the moment of its copy, which recovery
/// replays like after a crash (a torn last page is what a crash leaves too). So the restored store
/// holds every write acknowledged before the backup began, and possibly some after.
/// </para>
/// </summary>
internal static class OnlineBackup
{
    public static async Task WriteAsync(ResourceStore store, string dataDirectory, Stream output, CancellationToken cancellationToken)
    {
        await store.CheckpointAsync(cancellationToken).ConfigureAwait(false);
        using var hold = await store.HoldCheckpointsAsync(cancellationToken).ConfigureAwait(false);

        string root = Path.GetFullPath(dataDirectory);
        string wal = Path.Combine(root, "store", "wal") + Path.DirectorySeparatorChar;
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(".tmp", StringComparison.Ordinal) && Path.GetFileName(f) != "store.lock")
            .ToList();

        // The write-ahead log last: it must reach past everything the other files hold.
        files.Sort((a, b) => (a.StartsWith(wal, StringComparison.Ordinal), b.StartsWith(wal, StringComparison.Ordinal)) switch
        {
            (false, true) => -1,
            (true, false) => 1,
            _ => string.CompareOrdinal(a, b),
        });

        await using var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true);
        await using var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true);
        foreach (string file in files)
        {
            FileStream source;
            try
            {
                source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, useAsync: true);
            }
            catch (FileNotFoundException)
            {
                continue; // a temporary file of the server's that went meanwhile
            }

            await using (source)
            {
                // The length now: a file still being appended is copied up to here, as the tar
                // entry's header says.
                long length = source.Length;
                var entry = new PaxTarEntry(TarEntryType.RegularFile, Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/'))
                {
                    DataStream = new PrefixStream(source, length),
                };
                await tar.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The first <c>length</c> bytes of a stream (a file that may grow while it is read). Reports
    /// itself seekable so the tar writer takes its size from <see cref="Length"/> instead of
    /// buffering it; it is only ever read forward.
    /// </summary>
    private sealed class PrefixStream(Stream inner, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int read = inner.Read(buffer[..(int)Math.Min(buffer.Length, length - _position)]);
            _position += read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int read = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, length - _position)], cancellationToken).ConfigureAwait(false);
            _position += read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) =>
            origin == SeekOrigin.Current && offset == 0 ? _position : throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
