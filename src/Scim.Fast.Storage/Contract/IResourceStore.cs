using System.Buffers;

using Scim.Fast.Storage.Feed;

namespace Scim.Fast.Storage.Resources;

/// <summary>
/// The storage contract (issue 16): the semantic operations the server needs, which every backend
/// implements with the same meaning: the embedded FASTER store (<see cref="ResourceStore"/>, the
/// default) and the Redis Cluster store (Scim.Fast.Storage.Redis). Nothing above it knows which
/// one runs. Index numbers and keys are the catalogue's (the caller derives them); keys compare
/// ordinally (UTF-16 code units) in every backend.
/// </summary>
/// <remarks>
/// Writes are atomic and durable when they complete: the resource, its unique key, externalId,
/// index entries, a member change, an attachment and the change-feed entry land together or not
/// at all. Versions only grow, across deletes too.
/// </remarks>
public interface IResourceStore : IAsyncDisposable
{
    /// <summary>Which backend this is, for logs and /readyz ("embedded", "redis").</summary>
    string Backend { get; }

    /// <summary>Whether this open created the store (no data existed): every index is trivially complete.</summary>
    bool IsNew { get; }

    /// <summary>Whether ordered queries can be answered now (the embedded store loads them after open).</summary>
    bool OrderedIndexesLoaded { get; }

    /// <summary>Blocks until <see cref="OrderedIndexesLoaded"/>.</summary>
    void WaitForOrderedIndexes();

    /// <summary>Why the store stopped taking writes, or null.</summary>
    string? StopReason { get; }

    /// <summary>Whether lookup indexes hold every resource's entries (else lookups answer null: scan).</summary>
    bool LookupIndexesComplete { get; }

    /// <summary>The tenant's change feed.</summary>
    IChangeFeed Feed { get; }

    ValueTask<(StoreStatus Status, long Version)> CreateAsync(
        TenantId tenant, byte type, string id, string? uniqueKey, string? externalId, ReadOnlyMemory<byte> body, IReadOnlyList<IndexEntry>? indexEntries = null, MemberChange? members = null, CancellationToken cancellationToken = default, Attachment? attachment = null, WriteEvent? change = null);

    /// <summary>Replaces the resource; with <paramref name="expectedVersion"/>, only if it still has that version.</summary>
    ValueTask<(StoreStatus Status, long Version)> ReplaceAsync(
        TenantId tenant, byte type, string id, long? expectedVersion, string? uniqueKey, string? externalId, ReadOnlyMemory<byte> body, IReadOnlyList<IndexEntry>? indexEntries = null, MemberChange? members = null, CancellationToken cancellationToken = default, WriteEvent? change = null);

    ValueTask<StoreStatus> DeleteAsync(TenantId tenant, byte type, string id, long? expectedVersion, CancellationToken cancellationToken = default, WriteEvent? change = null);

    /// <summary>Creates many resources (/Bulk, initial syncs); each item gets its own status.</summary>
    ValueTask<(StoreStatus Status, long Version)[]> CreateBatchAsync(TenantId tenant, byte type, IReadOnlyList<NewResource> items, CancellationToken cancellationToken = default);

    /// <summary>Gives the resource at <paramref name="version"/> these index entries, keeping its version (an index build).</summary>
    ValueTask<StoreStatus> ReindexAsync(TenantId tenant, byte type, string id, long version, IReadOnlyList<IndexEntry> entries);

    StoredResource? Get(TenantId tenant, byte type, string id);

    /// <summary>
    /// A resource's unique key (User.userName, Group.displayName) without decoding the rest, for
    /// request threads: a record on disk is awaited, not waited for. Null when absent.
    /// </summary>
    ValueTask<string?> GetUniqueKeyAsync(TenantId tenant, byte type, string id);

    bool Exists(TenantId tenant, byte type, string id);

    /// <summary>The stored body and version, appended to <paramref name="scratch"/>.</summary>
    bool TryReadBody(TenantId tenant, byte type, string id, ArrayBufferWriter<byte> scratch, out ReadOnlyMemory<byte> body, out long version);

    /// <summary><see cref="TryReadBody"/> without blocking a thread on IO.</summary>
    ValueTask<(bool Found, ReadOnlyMemory<byte> Body, long Version)> TryReadBodyAsync(TenantId tenant, byte type, string id, ArrayBufferWriter<byte> scratch);

    /// <summary>
    /// Whether each read is a network round trip (Redis): callers that read many resources in a row
    /// (a scan's block of candidates) ask <see cref="ReadBodies"/> for all of them at once instead.
    /// </summary>
    bool ReadsAreRemote { get; }

    /// <summary>Receives one body of a <see cref="ReadBodiesEach"/>.</summary>
    delegate void BodyReader(int index, ReadOnlySpan<byte> body, long version);

    /// <summary>The stored bodies and versions of many resources in one go (null where absent), in the order asked.</summary>
    (byte[] Body, long Version)?[] ReadBodies(TenantId tenant, byte type, IReadOnlyList<string> ids);

    /// <summary>
    /// The stored bodies of <paramref name="ids"/>[<paramref name="from"/>..<paramref name="to"/>),
    /// each handed to <paramref name="onBody"/> with its index (the body is valid during the call
    /// only; absent ids are skipped). The embedded store hands records in memory over at once and
    /// asks for every record on disk before it waits for any (see FasterByteStore.ReadEach), so a
    /// cold scan's reads overlap; order is not kept for those.
    /// </summary>
    void ReadBodiesEach(TenantId tenant, byte type, string[] ids, int from, int to, BodyReader onBody);

    /// <summary>Receives one record of <see cref="ScanStored"/>: the id's UTF-8, the body and its version (valid during the call only).</summary>
    delegate void StoredRecordReader(ReadOnlySpan<byte> id, ReadOnlySpan<byte> body, long version);

    /// <summary>
    /// What a scan in storage order (<see cref="ScanStored"/>) would read now: the store's records
    /// of every tenant and type, cut into <paramref name="parts"/> ranges for as many threads.
    /// Empty when the store cannot scan in storage order (Redis: callers read by id instead).
    /// </summary>
    IReadOnlyList<StoredRange> StoredRanges(int parts);

    /// <summary>The records written since a scan's last range ended at <paramref name="end"/>; null when none.</summary>
    StoredRange? StoredSince(long end);

    /// <summary>
    /// The stored records of one tenant and type in <paramref name="range"/>, in storage order:
    /// sequential reads, no lookup per resource. A resource may be met more than once (copies of
    /// its earlier versions stay behind in the log) or as it was before a later write: what a record
    /// says is a candidate, to be confirmed against a read by id (<see cref="TryReadBody"/>), which
    /// is authoritative. A resource not written since the range was taken is met at its current
    /// version.
    /// </summary>
    void ScanStored(TenantId tenant, byte type, StoredRange range, StoredRecordReader onRecord);

    /// <summary>The id owning <paramref name="uniqueKey"/> (compared case-insensitively), if any.</summary>
    string? FindByUniqueKey(TenantId tenant, byte type, string uniqueKey);

    /// <summary>
    /// <see cref="FindByUniqueKey"/> for request threads: an index entry on disk costs an awaited
    /// read, not a blocked thread (the embedded store; Redis answers synchronously).
    /// </summary>
    ValueTask<string?> FindByUniqueKeyAsync(TenantId tenant, byte type, string uniqueKey);

    /// <summary>Ids with this lookup key; null when the index cannot answer (callers scan).</summary>
    IReadOnlyList<string>? FindByLookup(TenantId tenant, byte type, byte index, string key);

    /// <summary>Ids with this externalId (caseExact); null when too many share it (callers scan).</summary>
    IReadOnlyList<string>? FindByExternalId(TenantId tenant, byte type, string externalId);

    /// <summary><see cref="FindByLookup"/> for request threads: a list on disk costs an awaited read, not a blocked thread.</summary>
    ValueTask<IReadOnlyList<string>?> FindByLookupAsync(TenantId tenant, byte type, byte index, string key);

    /// <summary><see cref="FindByExternalId"/> for request threads: a list on disk costs an awaited read, not a blocked thread.</summary>
    ValueTask<IReadOnlyList<string>?> FindByExternalIdAsync(TenantId tenant, byte type, string externalId);

    /// <summary>Up to <paramref name="count"/> positions of a range strictly after <paramref name="after"/>, past <paramref name="skip"/>.</summary>
    List<OrderedPosition> Page(TenantId tenant, byte type, byte index, OrderedRange range, OrderedPosition? after, int count, bool descending = false, int skip = 0);

    /// <summary>Every position of a range after <paramref name="after"/>, in order, a page at a time.</summary>
    IEnumerable<OrderedPosition> Walk(TenantId tenant, byte type, byte index, OrderedRange range, OrderedPosition? after = null, bool descending = false);

    /// <summary>Entries in a range of an ordered index.</summary>
    int OrderedCount(TenantId tenant, byte type, byte index, OrderedRange range);

    /// <summary>
    /// Whether an ordered index holds (key, id). The embedded store answers from memory, without
    /// reading the resource (which may be on disk); only once <see cref="OrderedIndexesLoaded"/>.
    /// </summary>
    bool OrderedContains(TenantId tenant, byte type, byte index, string key, string id);

    /// <summary>
    /// <see cref="OrderedContains"/> for each of many entries (a group's members): one lock on the
    /// embedded store's tree (a lock per member made the groups of an initial sync queue on the
    /// users' id index), one ZMSCORE on Redis instead of a round trip per member.
    /// </summary>
    bool[] OrderedContainsEach(TenantId tenant, byte type, byte index, IReadOnlyList<(string Key, string Id)> entries);

    /// <summary>A mark for <see cref="MayHaveDeletedSince"/>: read it before checking that something exists.</summary>
    long DeletionMark { get; }

    /// <summary>
    /// Whether a resource of any tenant may have been deleted after <paramref name="mark"/> was
    /// read. The embedded store counts the deletes it applies (every write is its own); a store
    /// that other hosts write to always answers true.
    /// </summary>
    bool MayHaveDeletedSince(long mark);

    IEnumerable<string> GetMembers(TenantId tenant, string groupId);

    /// <summary>
    /// <see cref="GetMembers"/> for request threads: streamed a page at a time, waiting on the store
    /// (a page on disk, a Redis round trip) without holding the thread.
    /// </summary>
    IAsyncEnumerable<string> GetMembersAsync(TenantId tenant, string groupId, CancellationToken cancellationToken = default);

    long MemberCount(TenantId tenant, string groupId);

    bool IsMember(TenantId tenant, string groupId, string memberId);

    /// <summary><see cref="GetGroupsOf"/> for request threads: what is on disk is awaited, not waited for.</summary>
    ValueTask<IReadOnlyList<string>> GetGroupsOfAsync(TenantId tenant, string memberId);

    IReadOnlyList<string> GetGroupsOf(TenantId tenant, string memberId);

    /// <summary>A membership delta, durably: removeAll first, then removals, then additions.</summary>
    ValueTask ChangeMembersAsync(TenantId tenant, string groupId, bool removeAll, IReadOnlyList<string> added, IReadOnlyList<string> removed, CancellationToken cancellationToken = default);

    /// <summary>Removes a member from every group it is in.</summary>
    ValueTask RemoveFromAllGroupsAsync(TenantId tenant, string memberId, CancellationToken cancellationToken = default);

    /// <summary>What every resource of a type carries index entries for (see <see cref="MarkIndexesBuilt"/>).</summary>
    IReadOnlyList<string>? BuiltIndexes(byte type);

    void MarkIndexesBuilt(byte type, IReadOnlyList<string> indexes);

    byte[]? ReadAttachment(TenantId tenant, ReadOnlySpan<byte> key);

    /// <summary>An attachment on its own (an empty value deletes it).</summary>
    ValueTask PutAttachmentAsync(TenantId tenant, byte[] key, byte[] value, CancellationToken cancellationToken = default);

    /// <summary>Deletes every attachment <paramref name="expired"/> says is past its time.</summary>
    ValueTask<int> SweepAttachmentsAsync(Func<byte[], bool> expired, CancellationToken cancellationToken = default);

    /// <summary>A durable record of a tenant that never expires (an empty value deletes it).</summary>
    ValueTask PutStateAsync(TenantId tenant, byte[] key, byte[] value, CancellationToken cancellationToken = default);

    byte[]? ReadState(TenantId tenant, ReadOnlySpan<byte> key);

    /// <summary>
    /// Takes or renews a lease for <paramref name="holder"/> for <paramref name="milliseconds"/>:
    /// true while no other holder has it. Hosts sharing a store (Redis) use it so that one of them
    /// at a time does a job (a push stream's delivery); a store one process owns always grants it.
    /// </summary>
    ValueTask<bool> TryHoldLeaseAsync(TenantId tenant, byte[] key, string holder, int milliseconds);

    /// <summary>
    /// Every inconsistency between resources and indexes (empty when clean). Reads the whole store
    /// (minutes at millions of resources); <paramref name="cancellationToken"/> ends it early.
    /// </summary>
    List<string> Verify(CancellationToken cancellationToken = default);
}

/// <summary>A tenant's change feed as the contract sees it (DESIGN-NOTES §10).</summary>
public interface IChangeFeed
{
    /// <summary>Why the feed stopped, or null while it runs.</summary>
    Exception? Failure { get; }

    /// <summary>Entries published since the store opened (a metric).</summary>
    long Projected { get; }

    /// <summary>Completes when new entries may be there (long polls and streams re-read after).</summary>
    Task Advanced { get; }

    /// <summary>The oldest retained and one past the newest published sequence of a tenant's feed.</summary>
    (long First, long Next) Bounds(TenantId tenant);

    /// <summary>Up to <paramref name="max"/> entries after <paramref name="after"/>; Expired when some were dropped.</summary>
    FeedReadStatus Read(TenantId tenant, long after, int max, List<ChangeEntry> into);

    /// <summary>Drops entries older than the cutoff (retention).</summary>
    ValueTask<long> SweepAsync(long cutoffUnixMs, CancellationToken cancellationToken = default);
}

/// <summary>The contract's shorthands: the whole of an ordered index.</summary>
public static class ResourceStoreContract
{
    public static List<OrderedPosition> Page(this IResourceStore store, TenantId tenant, byte type, byte index, OrderedPosition? after, int count, bool descending = false, int skip = 0) =>
        store.Page(tenant, type, index, OrderedRange.All, after, count, descending, skip);

    public static IEnumerable<OrderedPosition> Walk(this IResourceStore store, TenantId tenant, byte type, byte index, OrderedPosition? after = null) =>
        store.Walk(tenant, type, index, OrderedRange.All, after);

    public static int OrderedCount(this IResourceStore store, TenantId tenant, byte type, byte index) =>
        store.OrderedCount(tenant, type, index, OrderedRange.All);
}

/// <summary>
/// The backend cannot take the operation now but may soon (a failover under way, a replica that did
/// not confirm a write in time): the server answers 503 with Retry-After, never a wrong answer.
/// A write that throws this may or may not have been applied; it was not acknowledged.
/// </summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>When to try again, in seconds (Retry-After).</summary>
    public int RetryAfterSeconds { get; init; } = 1;
}

/// <summary>A range of the store's log, in bytes (<see cref="IResourceStore.StoredRanges"/>).</summary>
public readonly record struct StoredRange(long From, long To)
{
    public long Bytes => To - From;
}
