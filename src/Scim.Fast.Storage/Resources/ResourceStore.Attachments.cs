using System.Buffers.Binary;

namespace Scim.Fast.Storage.Resources;

/// <summary>
/// A key-value entry written in the same log record as a write, so that it exists exactly when the
/// write is durable, and replayed with it (the server keeps Idempotency-Key records this way).
/// <paramref name="Value"/> is called under the write's locks with the version the write gets.
/// </summary>
public sealed record Attachment(byte[] Key, Func<long, byte[]> Value);

/// <summary>Attachments: small records of a tenant, kept beside the resources, outside every index.</summary>
public sealed partial class ResourceStore
{
    private const byte AttachmentPrefix = (byte)'I';
    private const byte StatePrefix = (byte)'S';

    /// <summary>Longest attachment key, in bytes.</summary>
    public const int MaxAttachmentKeyBytes = 256;

    /// <summary>The attachment stored under <paramref name="key"/> for the tenant, if any.</summary>
    public byte[]? ReadAttachment(TenantId tenant, ReadOnlySpan<byte> key) =>
        _kv.TryRead(AttachmentKey(tenant, key), out var value) ? value : null;

    /// <summary>
    /// Writes an attachment on its own, durably (for an outcome that is not one write, such as a
    /// whole /Bulk response). It is its own log record: it is not atomic with the writes it describes.
    /// </summary>
    public ValueTask PutAttachmentAsync(TenantId tenant, byte[] key, byte[] value, CancellationToken cancellationToken = default) =>
        PutLoggedAsync(AttachmentKey(tenant, key), value, cancellationToken);

    // A key-value entry in a log record of its own: durable before it is applied, under its stripe.
    private async ValueTask PutLoggedAsync(byte[] storeKey, byte[] value, CancellationToken cancellationToken)
    {
        var encoded = AttachedRecord.Encode([], storeKey, value);
        await EnterWriteAsync().ConfigureAwait(false);
        try
        {
            var stripe = _stripes[StripesFor([storeKey])[0]];
            await stripe.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await EnqueueAndApplyAsync(encoded, () => ApplyAttachment(storeKey, value), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                stripe.Release();
            }
        }
        finally
        {
            ExitWrite();
        }
    }

    /// <summary>
    /// A small durable record of a tenant that is not an attachment of a write and never expires
    /// (an event stream's settings and position): logged on its own, replayed like an attachment.
    /// An empty <paramref name="value"/> deletes it.
    /// </summary>
    public ValueTask PutStateAsync(TenantId tenant, byte[] key, byte[] value, CancellationToken cancellationToken = default) =>
        PutLoggedAsync(AttachmentKey(tenant, key, StatePrefix), value, cancellationToken);

    /// <summary>The state record under <paramref name="key"/> for the tenant, if any.</summary>
    /// <summary>One process owns an embedded store (its lock file): every lease is its own.</summary>
    public ValueTask<bool> TryHoldLeaseAsync(TenantId tenant, byte[] key, string holder, int milliseconds) => ValueTask.FromResult(true);

    public byte[]? ReadState(TenantId tenant, ReadOnlySpan<byte> key) =>
        _kv.TryRead(AttachmentKey(tenant, key, StatePrefix), out var value) ? value : null;

    // Live and in replay: an empty value is a delete (no attachment or state record is empty).
    private void ApplyAttachment(byte[] key, byte[] value)
    {
        if (value.Length == 0)
        {
            _kv.Delete(key);
        }
        else
        {
            _kv.Upsert(key, value);
        }
    }

    /// <summary>
    /// Deletes every attachment <paramref name="expired"/> says is past its time; returns how many.
    /// The deletes are not logged: a crash may bring an expired record back from the log, and the
    /// caller's own expiry check still holds it expired until the next sweep.
    /// </summary>
    public async ValueTask<int> SweepAttachmentsAsync(Func<byte[], bool> expired, CancellationToken cancellationToken = default)
    {
        int deleted = 0;
        foreach (var (key, value) in _kv.ScanAll(AttachmentPrefix))
        {
            if (!expired(value))
            {
                continue;
            }

            await EnterWriteAsync().ConfigureAwait(false);
            try
            {
                // Under the key's stripe, read again: a write may have reused the key meanwhile.
                var stripe = _stripes[StripesFor([key])[0]];
                await stripe.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    if (_kv.TryRead(key, out var current) && expired(current))
                    {
                        _kv.Delete(key);
                        deleted++;
                    }
                }
                finally
                {
                    stripe.Release();
                }
            }
            finally
            {
                ExitWrite();
            }
        }

        return deleted;
    }

    private static byte[] AttachmentKey(TenantId tenant, ReadOnlySpan<byte> key, byte prefix = AttachmentPrefix)
    {
        if (key.IsEmpty || key.Length > MaxAttachmentKeyBytes)
        {
            throw new ArgumentException($"An attachment key is 1 to {MaxAttachmentKeyBytes} bytes.", nameof(key));
        }

        var storeKey = new byte[6 + key.Length];
        storeKey[0] = prefix;
        BinaryPrimitives.WriteUInt32BigEndian(storeKey.AsSpan(1), tenant.Value);
        key.CopyTo(storeKey.AsSpan(6));
        return storeKey;
    }
}
