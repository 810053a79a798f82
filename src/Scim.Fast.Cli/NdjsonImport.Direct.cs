using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Errors;
using Scim.Fast.Server.Protocol;

namespace Scim.Fast.Cli;

// Offline import (the server stopped, its store opened here): user lines go to the server's
// batch-create path as the file's bytes, 1,000 per batch with a few batches in flight, so a line
// is parsed once, by the server, as /Bulk would parse it. No JSON tree, no HTTP, no bulk
// request or response documents (issue 17: import speed). Groups take the /Bulk path afterwards.
internal sealed partial class NdjsonImport
{
    private const int ReadBuffer = 4 << 20;

    private async Task RunDirectAsync(FileInfo file, Func<IReadOnlyList<ReadOnlySequence<byte>>, CancellationToken, ValueTask<BulkOperationResult[]>> direct, StreamWriter errors, Action<long> progress, CancellationToken cancel)
    {
        var groups = new List<Item>();
        var inflight = new Queue<(int Count, Task<Outcome> Post)>();
        var users = new UserBatch(batch);
        long done = 0;
        long line = 0;
        await using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: ReadBuffer, minimumReadSize: ReadBuffer / 4));
        bool completed = false;
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync(cancel).ConfigureAwait(false);
                var buffer = read.Buffer;
                while (NextLine(ref buffer, read.IsCompleted, out var bytes, out bool terminated))
                {
                    // A line split between two of the pipe's segments is copied whole (rare at 4 MiB).
                    ReadOnlySpan<byte> text = (bytes.IsSingleSegment ? bytes.FirstSpan : bytes.ToArray()).TrimEnd((byte)'\r');
                    if (!terminated && text.IsEmpty)
                    {
                        break;
                    }

                    line++;
                    if (line == 1 && text.StartsWith("\uFEFF"u8))
                    {
                        text = text[3..];   // a byte order mark, as File.ReadLines drops it
                    }

                    if (!text.IsEmpty && Take(text, line, groups, users) is { } error)
                    {
                        await RejectAsync(errors, line, 400, "invalidSyntax", "Not a JSON object: " + error).ConfigureAwait(false);
                    }

                    if (users.Count == batch)
                    {
                        // Parsed and committed on the pool while this thread reads the next batch.
                        var full = users;
                        inflight.Enqueue((full.Count, Task.Run(() => CreateAsync(full, direct, cancel), cancel)));
                        users = new UserBatch(batch);
                        if (inflight.Count == InFlight)
                        {
                            done += await DrainAsync(inflight.Dequeue(), errors, user: true).ConfigureAwait(false);
                            progress(done);
                        }
                    }
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }

            inflight.Enqueue((users.Count, CreateAsync(users, direct, cancel)));
            while (inflight.TryDequeue(out var pending))
            {
                done += await DrainAsync(pending, errors, user: true).ConfigureAwait(false);
                progress(done);
            }

            completed = true;
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            if (!completed)
            {
                // Failed or cancelled: the batches already handed to the store finish before the
                // store is closed under them (the /Bulk path had Kestrel's graceful stop for that).
                while (inflight.TryDequeue(out var running))
                {
                    try
                    {
                        await running.Post.ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        // The failure that ended the import is the one reported.
                    }
                }
            }
        }

        await ImportGroupsAsync(groups, done, errors, progress, cancel).ConfigureAwait(false);
    }

    // The next line of what the pipe holds (without its line feed); at the end of the file, what is
    // left, unterminated. False when a whole line is not there yet.
    private static bool NextLine(ref ReadOnlySequence<byte> buffer, bool atEnd, out ReadOnlySequence<byte> line, out bool terminated)
    {
        if (buffer.PositionOf((byte)'\n') is { } feed)
        {
            line = buffer.Slice(0, feed);
            buffer = buffer.Slice(buffer.GetPosition(1, feed));
            terminated = true;
            return true;
        }

        line = buffer;
        terminated = false;
        if (!atEnd || buffer.IsEmpty)
        {
            return false;
        }

        buffer = buffer.Slice(buffer.End);
        return true;
    }

    // Files a line: a group for later, a user into the batch; the reason when it is no resource.
    private static string? Take(ReadOnlySpan<byte> text, long line, List<Item> groups, UserBatch users)
    {
        switch (Classify(text, out string? oldId, out string? error))
        {
            case LineKind.Invalid:
                return error;
            case LineKind.Group:
                groups.Add(new Item(line, oldId, (JsonObject)JsonNode.Parse(text)!));
                return null;
            default:
                users.Add(line, oldId, text);
                return null;
        }
    }

    private static async Task<Outcome> CreateAsync(UserBatch users, Func<IReadOnlyList<ReadOnlySequence<byte>>, CancellationToken, ValueTask<BulkOperationResult[]>> direct, CancellationToken cancel)
    {
        var outcome = new Outcome();
        try
        {
            if (users.Count == 0)
            {
                return outcome;
            }

            var results = await direct(users.Bodies(), cancel).ConfigureAwait(false);
            for (int i = 0; i < users.Count; i++)
            {
                var (line, oldId) = users.Origins[i];
                if (results[i] is { Error: null, Id: { } id })
                {
                    outcome.Created++;
                    if (oldId is not null)
                    {
                        outcome.Ids.Add((oldId, id));
                    }
                }
                else
                {
                    var error = results[i].Error;
                    outcome.Rejections.Add((line, error?.Status ?? results[i].Status, error is null ? null : ScimError.ScimTypeName(error.Type), error?.Detail));
                }
            }

            return outcome;
        }
        finally
        {
            users.Release();
        }
    }

    private enum LineKind
    {
        Invalid,
        User,
        Group,
    }

    // The line's top-level "id" and whether its schemas name a Group, read without building a tree;
    // the whole line is read, so a line that is no JSON object is found here (the server checks the rest).
    private static LineKind Classify(ReadOnlySpan<byte> text, out string? id, out string? error)
    {
        id = null;
        error = null;
        bool group = false;
        try
        {
            var reader = new Utf8JsonReader(text);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "the line is no object";
                return LineKind.Invalid;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isId = reader.ValueTextEquals("id"u8);
                bool isSchemas = reader.ValueTextEquals("schemas"u8);
                reader.Read();
                if (isId && reader.TokenType == JsonTokenType.String)
                {
                    id = reader.GetString();
                }
                else if (isSchemas && reader.TokenType == JsonTokenType.StartArray)
                {
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        if (reader.TokenType == JsonTokenType.String)
                        {
                            group |= string.Equals(reader.GetString(), GroupSchema, StringComparison.OrdinalIgnoreCase);
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
                else
                {
                    reader.Skip();
                }
            }

            // Nothing may follow the object.
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                error = "the line holds more than one JSON object";
                return LineKind.Invalid;
            }

            return group ? LineKind.Group : LineKind.User;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is no valid UTF-8 (or a lone surrogate escape).
            error = e.Message;
            return LineKind.Invalid;
        }
    }

    /// <summary>A batch of user lines: their bytes, one after another in a pooled buffer, and where each came from.</summary>
    private sealed class UserBatch(int capacity)
    {
        private byte[] _bytes = ArrayPool<byte>.Shared.Rent(capacity * 1024);
        private int _length;
        private readonly List<(int Start, int Length)> _spans = new(capacity);

        public List<(long Line, string? OldId)> Origins { get; } = new(capacity);

        public int Count => _spans.Count;

        public void Add(long line, string? oldId, ReadOnlySpan<byte> text)
        {
            if (_length + text.Length > _bytes.Length)
            {
                byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(_bytes.Length * 2, _length + text.Length));
                _bytes.AsSpan(0, _length).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_bytes);
                _bytes = larger;
            }

            text.CopyTo(_bytes.AsSpan(_length));
            _spans.Add((_length, text.Length));
            _length += text.Length;
            Origins.Add((line, oldId));
        }

        public List<ReadOnlySequence<byte>> Bodies()
        {
            var bodies = new List<ReadOnlySequence<byte>>(_spans.Count);
            foreach (var (start, length) in _spans)
            {
                bodies.Add(new ReadOnlySequence<byte>(_bytes, start, length));
            }

            return bodies;
        }

        public void Release()
        {
            ArrayPool<byte>.Shared.Return(_bytes);
            _bytes = [];
        }
    }
}
