using System.Text;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// Attachments (the server's Idempotency-Key records) ride in the log record of the write they
/// describe: present exactly when the write is, after replay too.
/// </summary>
public sealed class AttachmentTests
{
    private const byte User = 1;
    private static readonly TenantId s_tenant = new(3);

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task AttachmentOfACreate_IsAppliedWithIt_AndReplayedFromTheLog()
    {
        using var directory = new TempDirectory();
        var key = Bytes("key-1");
        long seenVersion = 0;
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            var attachment = new Attachment(key, version =>
            {
                seenVersion = version;
                return Bytes("answer v" + version);
            });
            var (status, version) = await store.CreateAsync(s_tenant, User, "u1", "ada", null, Bytes("{}"), attachment: attachment);
            Assert.Equal(StoreStatus.Ok, status);
            Assert.Equal(version, seenVersion);
            Assert.Equal("answer v1", Encoding.UTF8.GetString(store.ReadAttachment(s_tenant, key)!));

            // Scoped by tenant.
            Assert.Null(store.ReadAttachment(new TenantId(4), key));

            // A create that does not happen (a taken name) leaves no attachment.
            var other = Bytes("key-2");
            var (conflict, _) = await store.CreateAsync(s_tenant, User, "u2", "ADA", null, Bytes("{}"), attachment: new Attachment(other, _ => Bytes("never")));
            Assert.Equal(StoreStatus.UniquenessConflict, conflict);
            Assert.Null(store.ReadAttachment(s_tenant, other));

            // One on its own.
            await store.PutAttachmentAsync(s_tenant, Bytes("bulk"), Bytes("bulk answer"));

            // Closed without a checkpoint: the reopen below recovers everything from the log.
        }

        await using (var reopened = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            Assert.NotNull(reopened.Get(s_tenant, User, "u1"));
            Assert.Equal("answer v1", Encoding.UTF8.GetString(reopened.ReadAttachment(s_tenant, key)!));
            Assert.Equal("bulk answer", Encoding.UTF8.GetString(reopened.ReadAttachment(s_tenant, Bytes("bulk"))!));
            Assert.Null(reopened.ReadAttachment(s_tenant, Bytes("key-2")));
            Assert.Empty(reopened.Verify());

            // The sweep removes what its test calls expired, and nothing else.
            int swept = await reopened.SweepAttachmentsAsync(value => Encoding.UTF8.GetString(value).StartsWith("bulk", StringComparison.Ordinal));
            Assert.Equal(1, swept);
            Assert.Null(reopened.ReadAttachment(s_tenant, Bytes("bulk")));
            Assert.NotNull(reopened.ReadAttachment(s_tenant, key));
            await reopened.CheckpointAsync();
        }

        await using (var again = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            Assert.Equal("answer v1", Encoding.UTF8.GetString(again.ReadAttachment(s_tenant, key)!));
            Assert.Null(again.ReadAttachment(s_tenant, Bytes("bulk")));
        }
    }
}
