using System.Buffers;
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
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReadBuffer);
        bool completed = false;
        try
        {
            int start = 0;
            int end = 0;
            bool eof = false;
            while (true)
            {
                int newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
                if (newline < 0 && !eof)
                {
                    // Keep the partial line: move it to the front (grow for a line longer than the buffer), read on.
                    if (start == 0 && end == buffer.Length)
                    {
                        byte[] larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, end).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }
                    else
                    {
                        buffer.AsSpan(start, end - start).CopyTo(buffer);
                        end -= start;
                        start = 0;
                    }

                    int read = await stream.ReadAsync(buffer.AsMemory(end), cancel).ConfigureAwait(false);
                    eof = read == 0;
                    end += read;
                    continue;
                }

                int length = newline < 0 ? end - start : newline;
                var text = buffer.AsSpan(start, length).TrimEnd((byte)'\r');
                start += newline < 0 ? length : length + 1;
                if (text.Length > 0 || newline >= 0)
                {
                    line++;
                }

                if (line == 1 && text.StartsWith("\uFEFF"u8))
                {
                    text = text[3..];   // a byte order mark, as File.ReadLines drops it
                }

                if (text.Length > 0)
                {
                    switch (Classify(text, out string? oldId, out string? error))
                    {
                        case LineKind.Invalid:
                            await RejectAsync(errors, line, 400, "invalidSyntax", "Not a JSON object: " + error).ConfigureAwait(false);
                            break;
                        case LineKind.Group:
                            var group = JsonNode.Parse(text) as JsonObject;
                            groups.Add(new Item(line, oldId, group!));
                            break;
                        default:
                            users.Add(line, oldId, text);
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

                            break;
                    }
                }

                if (newline < 0 && eof)
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
            ArrayPool<byte>.Shared.Return(buffer);
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
