using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Errors;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// The <c>Idempotency-Key</c> request header (IETF draft-ietf-httpapi-idempotency-key-header) on
/// POST /Users, /Groups and /Bulk: a client that retries a create after losing the answer sends the
/// same key and gets the first answer again (same status, body, Location and so the same id), never
/// a second resource. Keys are scoped to the tenant and the token that sent them.
/// </summary>
/// <remarks>
/// <para>The record of an answer (the body fingerprint and the whole response) is an attachment of
/// the create's own log record (<see cref="Attachment"/>): it exists exactly when the resource does,
/// across crashes and restarts. For /Bulk it is written after the last operation, as a record of its
/// own: a crash between the two leaves the operations without the record, and a retry runs them again
/// (its creates then meet their own names: 409 each).</para>
/// <para>Draft §2.6: the same key with another request is 422; a request still running with the same
/// key is 409. Without the header nothing changes: RFC 7644 §3.3 (a repeated create is 409).</para>
/// </remarks>
internal sealed class IdempotencyKeys(IResourceStore store, TimeSpan retention)
{
    public const string HeaderName = "Idempotency-Key";

    // Keys with a request running, per tenant and token (one process: the store has one writer host).
    private readonly ConcurrentDictionary<(uint Tenant, string Key), byte> _running = new();

    private const byte RecordFormat = 1;

    public TimeSpan Retention { get; } = retention;

    /// <summary>Where the records are kept.</summary>
    public IResourceStore Store { get; } = store;

    /// <summary>
    /// The header's key: an RFC 8941 sf-string (<c>"…"</c>, printable ASCII) as the draft defines it; a
    /// bare token is taken as well, since clients send both. Null without the header.
    /// </summary>
    public static bool TryReadKey(HttpRequest request, out string? key, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out ScimError? error)
    {
        key = null;
        error = null;
        var values = request.Headers[HeaderName];
        if (values.Count == 0)
        {
            return true;
        }

        string raw = values.Count == 1 ? (values[0] ?? "").Trim() : "";
        bool valid;
        if (raw.Length >= 2 && raw[0] == '"' && raw[^1] == '"')
        {
            raw = raw[1..^1].Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);
            valid = IsPrintableAscii(raw);
        }
        else
        {
            // Unquoted: one RFC 9110 token (no spaces, commas or quotes: "a, b" is two values).
            valid = IsToken(raw);
        }

        if (raw.Length is 0 or > 255 || !valid)
        {
            error = ScimError.InvalidValue($"{HeaderName} must be one string of 1 to 255 printable ASCII characters.");
            return false;
        }

        key = raw;
        return true;
    }

    /// <summary>
    /// Runs a keyed request once: answers from the record when this key already completed with the
    /// same request, 422 when it completed with another, 409 while it is still running; otherwise
    /// <paramref name="execute"/> runs and writes the answer (through <see cref="WriteRecordedAsync"/>
    /// when it recorded one).
    /// </summary>
    public async Task RunAsync(HttpContext context, ScimScope scope, string key, ReadOnlySequence<byte> body, Func<KeyedRequest, Task> execute)
    {
        string principal = context.Items[ScimRequestHandler.PrincipalKey] as string ?? "";
        var request = new KeyedRequest(StoreKey(principal, key), Fingerprint(context.Request, body));
        var running = (scope.Tenant.Value, Convert.ToHexString(request.StoreKey));
        if (!_running.TryAdd(running, 0))
        {
            await ScimResponses.Error(context, new ScimError(StatusCodes.Status409Conflict, ScimErrorType.None,
                $"A request with this {HeaderName} is still being processed; retry once it has been answered.")).ConfigureAwait(false);
            return;
        }

        try
        {
            if (Store.ReadAttachment(scope.Tenant, request.StoreKey) is { } recorded && !IsExpired(recorded, DateTimeOffset.UtcNow))
            {
                if (!recorded.AsSpan(9, 32).SequenceEqual(request.Fingerprint))
                {
                    await ScimResponses.Error(context, new ScimError(StatusCodes.Status422UnprocessableEntity, ScimErrorType.None,
                        $"This {HeaderName} was already used for a different request (another method, path or body); use a new key for a new request.")).ConfigureAwait(false);
                    return;
                }

                await WriteRecordedAsync(context, recorded).ConfigureAwait(false);
                return;
            }

            await execute(request).ConfigureAwait(false);
        }
        finally
        {
            _running.TryRemove(running, out _);
        }
    }

    /// <summary>Writes a recorded answer exactly as it was first sent.</summary>
    public static async Task WriteRecordedAsync(HttpContext context, byte[] recorded)
    {
        var (status, location, etag, body) = Decode(recorded);
        var response = context.Response;
        response.StatusCode = status;
        if (location.Length > 0)
        {
            response.Headers.Location = location;
        }

        if (etag.Length > 0)
        {
            response.Headers.ETag = etag;
        }

        if (body.Length > 0)
        {
            response.ContentType = ScimResponses.MediaType;
            await response.BodyWriter.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>Whether a record is past the retention window (the store sweep's test too).</summary>
    public bool IsExpired(byte[] recorded, DateTimeOffset now) =>
        recorded.Length < 41 || recorded[0] != RecordFormat
        || DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(recorded.AsSpan(1))) + Retention < now;

    /// <summary>Deletes the records past the retention window (run by the server's background loop).</summary>
    public ValueTask<int> SweepAsync(CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        return Store.SweepAttachmentsAsync(value => IsExpired(value, now), cancellationToken);
    }

    // Layout: format (1), created at in Unix ms (8), fingerprint (32), status (2), Location and ETag
    // (each length (2) + UTF-8), body length (4) + body.
    private static byte[] Encode(byte[] fingerprint, int status, string? location, string? etag, ReadOnlySpan<byte> body)
    {
        byte[] locationBytes = Encoding.UTF8.GetBytes(location ?? "");
        byte[] etagBytes = Encoding.UTF8.GetBytes(etag ?? "");
        var record = new byte[1 + 8 + 32 + 2 + 2 + locationBytes.Length + 2 + etagBytes.Length + 4 + body.Length];
        var span = record.AsSpan();
        span[0] = RecordFormat;
        BinaryPrimitives.WriteInt64LittleEndian(span[1..], DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        fingerprint.CopyTo(span[9..]);
        BinaryPrimitives.WriteUInt16LittleEndian(span[41..], checked((ushort)status));
        int position = 43;
        BinaryPrimitives.WriteUInt16LittleEndian(span[position..], checked((ushort)locationBytes.Length));
        locationBytes.CopyTo(span[(position + 2)..]);
        position += 2 + locationBytes.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(span[position..], checked((ushort)etagBytes.Length));
        etagBytes.CopyTo(span[(position + 2)..]);
        position += 2 + etagBytes.Length;
        BinaryPrimitives.WriteInt32LittleEndian(span[position..], body.Length);
        body.CopyTo(span[(position + 4)..]);
        return record;
    }

    private static (int Status, string Location, string ETag, ReadOnlyMemory<byte> Body) Decode(byte[] record)
    {
        var span = record.AsSpan();
        int status = BinaryPrimitives.ReadUInt16LittleEndian(span[41..]);
        int position = 43;
        int locationLength = BinaryPrimitives.ReadUInt16LittleEndian(span[position..]);
        string location = Encoding.UTF8.GetString(span.Slice(position + 2, locationLength));
        position += 2 + locationLength;
        int etagLength = BinaryPrimitives.ReadUInt16LittleEndian(span[position..]);
        string etag = Encoding.UTF8.GetString(span.Slice(position + 2, etagLength));
        position += 2 + etagLength;
        int bodyLength = BinaryPrimitives.ReadInt32LittleEndian(span[position..]);
        return (status, location, etag, record.AsMemory(position + 4, bodyLength));
    }

    // The store key: the token's identity and the client's key, hashed to a fixed size (the key is
    // the client's text; the identity is never a token itself).
    private static byte[] StoreKey(string principal, string key) =>
        SHA256.HashData(Encoding.UTF8.GetBytes("idempotency\n" + principal + "\n" + key));

    // What makes two requests "the same" (draft §2.4): method, target (path and query) and body bytes.
    private static byte[] Fingerprint(HttpRequest request, ReadOnlySequence<byte> body)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(request.Method + " " + request.PathBase + request.Path + request.QueryString + "\n"));
        foreach (var segment in body)
        {
            hash.AppendData(segment.Span);
        }

        return hash.GetHashAndReset();
    }

    private static bool IsToken(string value)
    {
        foreach (char c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsPrintableAscii(string value)
    {
        foreach (char c in value)
        {
            if (c is < ' ' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A keyed request being executed: what its answer is recorded under, and the answer once recorded.</summary>
    internal sealed class KeyedRequest(byte[] storeKey, byte[] fingerprint)
    {
        public byte[] StoreKey { get; } = storeKey;

        public byte[] Fingerprint { get; } = fingerprint;

        /// <summary>The recorded answer, once the write that carries it is durable.</summary>
        public byte[]? Recorded { get; set; }

        public byte[] Record(int status, string? location, string? etag, ReadOnlySpan<byte> body)
        {
            var recorded = Encode(Fingerprint, status, location, etag, body);
            Recorded = recorded;
            return recorded;
        }
    }
}
