using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

using Scim.Fast.Storage.Feed;
using Scim.Fast.Storage.Resources;

using StackExchange.Redis;

namespace Scim.Fast.Storage.Redis;

/// <summary>How the Redis backend connects and when it acknowledges a write.</summary>
public sealed record RedisStoreOptions
{
    /// <summary>A StackExchange.Redis configuration string (cluster nodes, password, TLS…).</summary>
    public required string Configuration { get; init; }

    /// <summary>Replicas that must confirm a write (WAIT) before it is acknowledged; 0 = the primary alone.</summary>
    public int ReplicaAcks { get; init; } = 1;

    /// <summary>How long WAIT may take before the write answers "unavailable".</summary>
    public int WaitTimeoutMilliseconds { get; init; } = 2000;

    /// <summary>Goes into every hash tag, so several deployments (or test servers) can share a cluster.</summary>
    public string KeyPrefix { get; init; } = "";
}

/// <summary>
/// The storage contract on a Redis 7 Cluster (issue 16, DESIGN-NOTES §11): any number of hosts
/// serve any tenant from the same cluster. One hash slot per tenant (<see cref="RedisKeys"/>), every
/// write one Lua script (<see cref="Scripts"/>), acknowledged only after WAIT confirms
/// <see cref="RedisStoreOptions.ReplicaAcks"/> replicas hold it. What the cluster cannot answer
/// now (a failover, a replica late) surfaces as <see cref="StoreUnavailableException"/>: 503.
/// </summary>
public sealed partial class RedisResourceStore : IResourceStore
{
    // A failover takes a few seconds: a script refused before it ran (CLUSTERDOWN, TRYAGAIN, a
    // replica not yet promoted) is retried this many times, this far apart, before answering 503.
    private const int RefusedRetries = 5;
    private static readonly TimeSpan s_refusedDelay = TimeSpan.FromMilliseconds(200);

    private static readonly LoadedScript s_write = new(Scripts.Write);
    private static readonly LoadedScript s_reindex = new(Scripts.Reindex);
    private static readonly LoadedScript s_members = new(Scripts.Members);
    private static readonly LoadedScript s_leaveAll = new(Scripts.LeaveAll);
    private static readonly LoadedScript s_lease = new(Scripts.Lease);
    private static readonly LoadedScript s_detachChunk = new(Scripts.DetachChunk);
    private static readonly LoadedScript s_groupsOf = new(Scripts.GroupsOf);

    private readonly ConnectionMultiplexer _redis;
    private readonly IDatabase _db;
    private readonly RedisStoreOptions _options;
    private readonly RedisChangeFeed _feed;

    private RedisResourceStore(ConnectionMultiplexer redis, RedisStoreOptions options)
    {
        _redis = redis;
        _db = redis.GetDatabase();
        _options = options;
        _feed = new RedisChangeFeed(this);
    }

    /// <summary>Connects (waiting for the cluster up to the connect timeout) and marks a first open.</summary>
    public static RedisResourceStore Open(RedisStoreOptions options)
    {
        var configuration = ConfigurationOptions.Parse(options.Configuration);
        // Keep reconnecting through a failover instead of failing the first command.
        configuration.AbortOnConnectFail = false;
        var redis = ConnectionMultiplexer.Connect(configuration);
        var store = new RedisResourceStore(redis, options);
        store.IsNew = store._db.StringSet(store.Global + "created", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), when: When.NotExists);
        return store;
    }

    public string Backend => "redis";

    public bool IsNew { get; private set; }

    // Sorted sets are always there: nothing loads after open.
    public bool OrderedIndexesLoaded => true;

    public void WaitForOrderedIndexes()
    {
    }

    // Nothing stops this store for good: writes and reads answer 503 while their nodes are away and
    // recover by themselves. Only with no node reachable at all does /readyz say so (503).
    public string? StopReason => _redis.IsConnected ? null : "no node of the Redis Cluster is reachable";

    public bool LookupIndexesComplete => true;

    public IChangeFeed Feed => _feed;

    internal IDatabase Database => _db;

    internal ConnectionMultiplexer Connection => _redis;

    internal static LoadedScript SweepFeedScript { get; } = new(Scripts.SweepFeed);

    /// <summary>A SCAN pattern for one kind of key of every tenant ("a:*", "f"…).</summary>
    internal string TenantKeyPattern(string suffix) => "{" + _options.KeyPrefix + "t:*}" + suffix;

    internal string Global => "{" + _options.KeyPrefix + "scim}";

    internal string Tag(TenantId tenant) => "{" + _options.KeyPrefix + "t:" + tenant.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}";

    public async ValueTask<(StoreStatus Status, long Version)> CreateAsync(
        TenantId tenant, byte type, string id, string? uniqueKey, string? externalId, ReadOnlyMemory<byte> body, IReadOnlyList<IndexEntry>? indexEntries = null, MemberChange? members = null, CancellationToken cancellationToken = default, Attachment? attachment = null, WriteEvent? change = null)
    {
        return await WriteAsync(tenant, type, id, 'c', null, uniqueKey, externalId, body, indexEntries, members, attachment, change, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<(StoreStatus Status, long Version)> ReplaceAsync(
        TenantId tenant, byte type, string id, long? expectedVersion, string? uniqueKey, string? externalId, ReadOnlyMemory<byte> body, IReadOnlyList<IndexEntry>? indexEntries = null, MemberChange? members = null, CancellationToken cancellationToken = default, WriteEvent? change = null)
    {
        return await WriteAsync(tenant, type, id, 'r', expectedVersion, uniqueKey, externalId, body, indexEntries, members, null, change, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<StoreStatus> DeleteAsync(TenantId tenant, byte type, string id, long? expectedVersion, CancellationToken cancellationToken = default, WriteEvent? change = null)
    {
        var (status, _) = await WriteAsync(tenant, type, id, 'd', expectedVersion, null, null, default, null, null, null, change, cancellationToken).ConfigureAwait(false);
        return status;
    }

    public async ValueTask<(StoreStatus Status, long Version)[]> CreateBatchAsync(TenantId tenant, byte type, IReadOnlyList<NewResource> items, CancellationToken cancellationToken = default)
    {
        // The scripts of the batch after the first are sent before any answer is awaited: they run in order
        // on the tenant's node (the first of two equal userNames wins, as in the embedded store),
        // and one WAIT covers them all.
        var writes = new Task<(StoreStatus, long)>[items.Count];
        var results = new (StoreStatus, long)[items.Count];
        var feedKey = RedisKeys.Feed(Tag(tenant));
        var ranOn = PrimaryOf(feedKey);
        bool primed = false;
        for (int i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (Refused(item.Id, item.UniqueKey, item.ExternalId, item.IndexEntries, item.Body.Length) is { } refused)
            {
                results[i] = (refused, 0);
                continue;
            }

            var (keys, values) = WriteArguments(tenant, type, item.Id, 'c', null, null, item.UniqueKey, item.ExternalId, item.Body, item.IndexEntries, item.Members, null, null, item.Change);
            writes[i] = RunWriteAsync(keys, values);
            if (!primed)
            {
                // The first write runs alone. A node that has not cached the write script answers
                // NOSCRIPT, and each write's fallback EVAL went out when its own answer came back,
                // in any order: the later of two equal userNames could win, and the feed could
                // hold the batch's events out of operation order. Once one ran, the node has it.
                primed = true;
                await writes[i].ConfigureAwait(false);
            }
        }

        for (int i = 0; i < items.Count; i++)
        {
            if (writes[i] is { } write)
            {
                results[i] = await write.ConfigureAwait(false);
            }
        }

        await WaitForReplicasAsync(feedKey, ranOn).ConfigureAwait(false);
        _feed.Published(tenant);
        return results;

        async Task<(StoreStatus, long)> RunWriteAsync(RedisKey[] keys, RedisValue[] values)
        {
            var result = (RedisResult[])(await EvaluateAsync(s_write, keys, values).ConfigureAwait(false))!;
            return ((StoreStatus)(int)result[0], (long)result[1]);
        }
    }

    private async ValueTask<(StoreStatus Status, long Version)> WriteAsync(
        TenantId tenant, byte type, string id, char mode, long? expectedVersion, string? uniqueKey, string? externalId, ReadOnlyMemory<byte> body,
        IReadOnlyList<IndexEntry>? indexEntries, MemberChange? members, Attachment? attachment, WriteEvent? change, CancellationToken cancellationToken)
    {
        ValidateId(id);
        if (Refused(id, uniqueKey, externalId, indexEntries, body.Length) is { } refused)
        {
            return (refused, 0);
        }

        if (members is not null)
        {
            foreach (var member in members.Added.Concat(members.Removed))
            {
                ValidateId(member);
            }
        }

        string tag = Tag(tenant);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // An attachment's value depends on the version the write gets: computed for the version
            // expected now, and the script refuses (Retry) when another write got there first.
            long? predicted = null;
            byte[]? attached = null;
            if (attachment is not null)
            {
                var current = await ReadAsync(() => _db.HashGetAsync(RedisKeys.Resource(tag, type, id), "v")).ConfigureAwait(false);
                long last = current.HasValue ? (long)current
                    : (long?)await ReadAsync(() => _db.StringGetAsync(RedisKeys.Tombstone(tag, type, id))).ConfigureAwait(false) ?? 0;
                predicted = last + 1;
                attached = attachment.Value(predicted.Value);
            }

            var (keys, values) = WriteArguments(tenant, type, id, mode, expectedVersion, predicted, uniqueKey, externalId, body, indexEntries, members, attachment?.Key, attached, change);
            var ranOn = new StrongBox<EndPoint?>();
            var result = (RedisResult[])(await EvaluateAsync(s_write, keys, values, ranOn).ConfigureAwait(false))!;
            int status = (int)result[0];
            if (status == Scripts.Retry)
            {
                continue;
            }

            long version = (long)result[1];
            if (status != (int)StoreStatus.Ok)
            {
                return ((StoreStatus)status, version);
            }

            await WaitForReplicasAsync(keys[0], ranOn.Value).ConfigureAwait(false);
            if (change is not null)
            {
                _feed.Published(tenant);
            }

            if (members?.RemoveAll == true)
            {
                await DetachMovedMembersAsync(tag).ConfigureAwait(false);
            }

            return (StoreStatus.Ok, version);
        }
    }

    private (RedisKey[] Keys, RedisValue[] Values) WriteArguments(
        TenantId tenant, byte type, string id, char mode, long? expectedVersion, long? predicted, string? uniqueKey, string? externalId, ReadOnlyMemory<byte> body,
        IReadOnlyList<IndexEntry>? indexEntries, MemberChange? members, byte[]? attachmentKey, byte[]? attachmentValue, WriteEvent? change)
    {
        string tag = Tag(tenant);
        var values = new List<RedisValue>(24 + 2 * (indexEntries?.Count ?? 0) + (members is null ? 0 : members.Added.Count + members.Removed.Count))
        {
            tag,
            type.ToString(System.Globalization.CultureInfo.InvariantCulture),
            id,
            mode.ToString(),
            expectedVersion?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
            predicted?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "",
            uniqueKey ?? "",
            uniqueKey is null ? "" : RedisKeys.Unique(tag, type, uniqueKey),
            externalId is null ? "" : "+" + externalId,
            externalId is null ? "" : RedisKeys.External(tag, type, externalId),
            body,
        };

        AddEntries(values, tag, type, id, indexEntries);
        values.Add(members?.RemoveAll == true ? "1" : "0");
        AddList(values, members?.Added);
        AddList(values, members?.Removed);
        values.Add(attachmentKey is null ? "" : RedisKeys.Attachment(tag, attachmentKey).ToString());
        values.Add(attachmentValue is null ? RedisValue.EmptyString : (RedisValue)attachmentValue);
        if (change is null)
        {
            values.Add("");
            values.Add("");
        }
        else
        {
            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            // The entry as the embedded feed encodes it; the script adds the version and externalId
            // (only it knows them: the next version, a deleted resource's externalId).
            // As the embedded store logs it: an empty member change is no member change.
            bool changesMembers = members is not null && (members.RemoveAll || members.Added.Count > 0 || members.Removed.Count > 0);
            var data = ChangeFeed.EventData(change, body, changesMembers ? members!.Added : null);
            var entry = new ChangeEntry(0, change.Operation, change.Active, type, id, null, 0, now, change.Transaction, data);
            values.Add(entry.Encode());
            values.Add(now);
        }

        return ([RedisKeys.Resource(tag, type, id)], [.. values]);
    }

    private static void AddEntries(List<RedisValue> values, string tag, byte type, string id, IReadOnlyList<IndexEntry>? entries)
    {
        values.Add(entries?.Count ?? 0);
        foreach (var entry in entries ?? [])
        {
            if (entry.IsLookup)
            {
                values.Add(RedisKeys.Lookup(tag, type, entry.Index, entry.Key));
                values.Add(id);
            }
            else
            {
                values.Add(RedisKeys.Ordered(tag, type, entry.Index));
                values.Add(OrderedMember.Encode(entry.Key, id));
            }
        }
    }

    private static void AddList(List<RedisValue> values, IReadOnlyList<string>? ids)
    {
        values.Add(ids?.Count ?? 0);
        foreach (var id in ids ?? [])
        {
            values.Add(id);
        }
    }

    // The embedded store's limits, so both backends refuse the same input.
    private static StoreStatus? Refused(string id, string? uniqueKey, string? externalId, IReadOnlyList<IndexEntry>? entries, int bodyLength)
    {
        if (!ResourceStore.IsStorableKey(uniqueKey) || !ResourceStore.IsStorableKey(externalId) || !ResourceStore.AreStorable(entries))
        {
            return StoreStatus.InvalidValue;
        }

        return bodyLength > ResourceStore.MaxRecordBytes ? StoreStatus.TooLarge : null;
    }

    private static void ValidateId(string id)
    {
        if (!ResourceStore.IsValidId(id))
        {
            throw new ArgumentException($"An id must be valid UTF-16 of at most {ResourceStore.MaxKeyBytes} UTF-8 bytes without NUL.", nameof(id));
        }
    }

    public async ValueTask<StoreStatus> ReindexAsync(TenantId tenant, byte type, string id, long version, IReadOnlyList<IndexEntry> entries)
    {
        if (!ResourceStore.AreStorable(entries))
        {
            return StoreStatus.InvalidValue;
        }

        string tag = Tag(tenant);
        var values = new List<RedisValue> { tag, type.ToString(System.Globalization.CultureInfo.InvariantCulture), id, version };
        AddEntries(values, tag, type, id, entries);
        var key = RedisKeys.Resource(tag, type, id);
        var ranOn = new StrongBox<EndPoint?>();
        int status = (int)(await EvaluateAsync(s_reindex, [key], [.. values], ranOn).ConfigureAwait(false));
        if (status == (int)StoreStatus.Ok)
        {
            await WaitForReplicasAsync(key, ranOn.Value).ConfigureAwait(false);
        }

        return (StoreStatus)status;
    }

    public async ValueTask ChangeMembersAsync(TenantId tenant, string groupId, bool removeAll, IReadOnlyList<string> added, IReadOnlyList<string> removed, CancellationToken cancellationToken = default)
    {
        ValidateId(groupId);
        foreach (var member in added.Concat(removed))
        {
            ValidateId(member);
        }

        string tag = Tag(tenant);
        var values = new List<RedisValue>(5 + added.Count + removed.Count) { tag, groupId, removeAll ? "1" : "0" };
        AddList(values, added);
        AddList(values, removed);
        var key = RedisKeys.Members(tag, groupId);
        var ranOn = new StrongBox<EndPoint?>();
        await EvaluateAsync(s_members, [key], [.. values], ranOn).ConfigureAwait(false);
        await WaitForReplicasAsync(key, ranOn.Value).ConfigureAwait(false);
        if (removeAll)
        {
            await DetachMovedMembersAsync(tag).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Drops the links back of every member set a big group's remove-all moved aside in this
    /// tenant, 1,000 members per script. Run after such a write; whatever a crash leaves is picked
    /// up by the next one (or by Verify), and readers never see it (GroupsOf checks each group).
    /// </summary>
    internal async Task DetachMovedMembersAsync(string tag)
    {
        try
        {
            await DetachAllAsync().ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            // The write is committed and acknowledged by then: what is left waits for the next
            // remove-all of the tenant or for Verify, and readers never see it.
        }

        async Task DetachAllAsync()
        {
            foreach (var pending in await ReadAsync(() => _db.HashGetAllAsync(RedisKeys.DetachQueue(tag))).ConfigureAwait(false))
            {
                RedisKey moved = (string)pending.Name!;
                while ((long)await EvaluateAsync(s_detachChunk, [moved], [tag, pending.Value, 1000]).ConfigureAwait(false) > 0)
                {
                }
            }
        }
    }

    public async ValueTask RemoveFromAllGroupsAsync(TenantId tenant, string memberId, CancellationToken cancellationToken = default)
    {
        string tag = Tag(tenant);
        var key = RedisKeys.GroupsOf(tag, memberId);
        var ranOn = new StrongBox<EndPoint?>();
        await EvaluateAsync(s_leaveAll, [key], [tag, memberId], ranOn).ConfigureAwait(false);
        await WaitForReplicasAsync(key, ranOn.Value).ConfigureAwait(false);
    }

    /// <summary>
    /// WAIT on the node that holds <paramref name="key"/>: the write is acknowledged only when the
    /// configured number of replicas has it, so losing the primary right after cannot lose it.
    /// WAIT counts what this connection wrote to that node so far, the write included.
    /// </summary>
    private async Task WaitForReplicasAsync(RedisKey key, EndPoint? ranOn = null)
    {
        if (_options.ReplicaAcks <= 0)
        {
            return;
        }

        long acknowledged;
        try
        {
            // WAIT counts what this connection wrote to that node: asked of another node (the slot
            // moved between the write and now), it would confirm nothing of this write.
            var server = PrimaryOf(key) is { } primary ? _redis.GetServer(primary) : throw Unavailable("No node serves the tenant's slot now", null);
            if (ranOn is not null && !server.EndPoint.Equals(ranOn))
            {
                throw Unavailable("The tenant's slot moved to another node while the write ran; it is not acknowledged", null);
            }

            acknowledged = (long)await server.ExecuteAsync("WAIT", [_options.ReplicaAcks, _options.WaitTimeoutMilliseconds]).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable("The write's confirmation from a replica failed", e);
        }

        if (acknowledged < _options.ReplicaAcks)
        {
            throw Unavailable($"The write reached {acknowledged} of {_options.ReplicaAcks} replicas within {_options.WaitTimeoutMilliseconds} ms; it is not acknowledged", null);
        }
    }

    /// <summary>A script by hash (EVALSHA), loaded by its text on the node's first NOSCRIPT.</summary>
    internal async Task<RedisResult> EvaluateAsync(LoadedScript script, RedisKey[] keys, RedisValue[] values, StrongBox<EndPoint?>? ranOn = null)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                if (ranOn is not null)
                {
                    // The node the slot map names as the write goes out: WAIT must ask that one.
                    ranOn.Value = PrimaryOf(keys[0]);
                }

                try
                {
                    return await _db.ScriptEvaluateAsync(script.Hash, keys, values).ConfigureAwait(false);
                }
                catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
                {
                    return await _db.ScriptEvaluateAsync(script.Text, keys, values).ConfigureAwait(false);
                }
            }
            catch (RedisServerException e) when (IsRefused(e) && attempt < RefusedRetries)
            {
                // Refused before it ran: the slot is moving or its node is being replaced.
                await Task.Delay(s_refusedDelay).ConfigureAwait(false);
            }
            catch (Exception e) when (IsUnavailable(e))
            {
                throw Unavailable("The Redis Cluster did not take the write", e);
            }
        }
    }

    /// <summary>A read-only script, synchronously (the contract's synchronous reads).</summary>
    internal RedisResult EvaluateRead(LoadedScript script, RedisKey[] keys, RedisValue[] values) => Read(() =>
    {
        try
        {
            return _db.ScriptEvaluate(script.Hash, keys, values);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return _db.ScriptEvaluate(script.Text, keys, values);
        }
    });

    /// <summary>A read, with the cluster's transient failures as <see cref="StoreUnavailableException"/>.</summary>
    internal static async Task<T> ReadAsync<T>(Func<Task<T>> read)
    {
        try
        {
            return await read().ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable("The Redis Cluster did not answer a read", e);
        }
    }

    internal static T Read<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unavailable("The Redis Cluster did not answer a read", e);
        }
    }

    // Errors a script gets before it runs while a slot has no serving primary.
    private static bool IsRefused(RedisServerException e) =>
        e.Message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal) || e.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal)
        || e.Message.StartsWith("MASTERDOWN", StringComparison.Ordinal) || e.Message.StartsWith("LOADING", StringComparison.Ordinal)
        || e.Message.StartsWith("READONLY", StringComparison.Ordinal);

    private static bool IsUnavailable(Exception e) =>
        e is RedisConnectionException or RedisTimeoutException || (e is RedisServerException server && IsRefused(server));

    private static StoreUnavailableException Unavailable(string message, Exception? inner) =>
        new(message + (inner is null ? "." : ": " + inner.Message), inner) { RetryAfterSeconds = 2 };

    public async ValueTask DisposeAsync()
    {
        await _feed.DisposeAsync().ConfigureAwait(false);
        await _redis.CloseAsync().ConfigureAwait(false);
        _redis.Dispose();
    }

    // The node the client's slot map names for a key now; null while it names none (every node
    // of the slot unreachable), which the write then meets as unavailable.
    private EndPoint? PrimaryOf(RedisKey key)
    {
        try
        {
            return _redis.GetServer(key).EndPoint;
        }
        catch (Exception e) when (e is RedisException or InvalidOperationException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>A script's text with its SHA-1 (what EVALSHA names it by).</summary>
    internal sealed class LoadedScript(string text)
    {
        public string Text { get; } = text;

        public byte[] Hash { get; } = SHA1.HashData(Encoding.UTF8.GetBytes(text));
    }
}
