using System.Text;

using Scim.Fast.Storage.Kv;
using Scim.Fast.Storage.Log;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>The resource store on the real FASTER log and key-value store, on disk; verify after every test.</summary>
public sealed class ResourceStoreTests
{
    private const byte User = 1;
    private static readonly TenantId s_tenant = new(7);

    internal static readonly ResourceStoreOptions Small = new()
    {
        Log = new WriteAheadLogOptions { PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 22 },
        KeyValue = new FasterByteStoreOptions { MemoryBytes = 1L << 22, PageBytes = 1L << 16, IndexBytes = 1L << 20, ReadCacheBytes = 1L << 20 },
    };

    private static byte[] Body(string text) => Encoding.UTF8.GetBytes(text);

    // A store of `users` users, checkpointed and closed; returns where its write-ahead log begins.
    private static async Task<long> CreateAndCheckpointAsync(string directory, int users)
    {
        await using var store = ResourceStore.Open(directory, Small);
        for (int i = 0; i < users; i++)
        {
            await store.CreateAsync(s_tenant, User, "u" + i, "user" + i, null, Body("{}"));
        }

        await store.CheckpointAsync();
        return store.LogBeginAddress;
    }

    // FASTER recovers a checkpoint whose log segments are gone without an error, and opens empty;
    // the write-ahead log was truncated by that checkpoint. Opening must fail loudly, not serve a
    // store without the users (before: it opened with none of them). A store that never
    // checkpointed, or whose log was not truncated, opens as ever (every other test).
    [Fact]
    public async Task Reopen_WhenTheKeyValueStoreLostItsCheckpoint_RefusesToOpen_InsteadOfServingWithoutTheData()
    {
        using var directory = new TempDirectory();
        long logBegin = await CreateAndCheckpointAsync(directory.Path, 200);
        Assert.True(logBegin > 64, "the checkpoint did not truncate the log: the test tests nothing");

        var segments = Directory.GetFiles(Path.Combine(directory.Path, "kv"), "kv.log*");
        Assert.NotEmpty(segments);
        foreach (var segment in segments)
        {
            File.Delete(segment);
        }

        var error = Assert.Throws<InvalidDataException>(() => ResourceStore.Open(directory.Path, Small).DisposeAsync().AsTask().GetAwaiter().GetResult());
        Assert.Contains("cannot be recovered", error.Message, StringComparison.Ordinal);
    }

    // Part of the key-value log lost below what the checkpoint recovered: a segment file cut short
    // (a copy or restore that stopped early, a full disk) or gone. FASTER recovers without looking
    // and those records read as absent; a 1,000,000-user store with its first segment cut to half
    // served 40 % of its users as not found (their names free to create again). Opening must fail
    // loudly. FASTER itself notices a segment gone (with its own message), not one cut short.
    // (-1: the last segment.)
    [Theory]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(-1, false)]
    [InlineData(-1, true)]
    [InlineData(1, true)]
    [InlineData(0, true)]
    public async Task Reopen_WhenAKeyValueSegmentIsCutShortOrLost_RefusesToOpen(int segment, bool lost)
    {
        using var directory = new TempDirectory();
        var options = Small with { KeyValue = Small.KeyValue with { MemoryBytes = 1L << 20, SegmentBytes = 1L << 20 } };
        const int Users = 3_000;
        await using (var store = ResourceStore.Open(directory.Path, options))
        {
            for (int start = 0; start < Users; start += 100)
            {
                var batch = Enumerable.Range(start, 100).Select(i => new NewResource("u" + i, "user" + i, null, Body("{\"n\":\"" + new string('x', 700) + "\"}"))).ToList();
                Assert.All(await store.CreateBatchAsync(s_tenant, User, batch), r => Assert.Equal(StoreStatus.Ok, r.Status));
            }

            await store.CheckpointAsync();
        }

        // Intact, it opens with every user (so the damage below is what the open refuses).
        await using (var intact = ResourceStore.Open(directory.Path, options))
        {
            Assert.NotNull(intact.Get(s_tenant, User, "u0"));
            Assert.NotNull(intact.Get(s_tenant, User, "u" + (Users - 1)));
        }

        int segments = Directory.GetFiles(Path.Combine(directory.Path, "kv"), "kv.log.*").Length;
        Assert.True(segments >= 3, "fewer than three segments: no segment in the middle");
        segment = segment < 0 ? segments - 1 : segment;
        string file = Path.Combine(directory.Path, "kv", "kv.log." + segment);
        if (lost)
        {
            File.Delete(file);
        }
        else
        {
            using var cut = new FileStream(file, FileMode.Open);
            cut.SetLength(cut.Length / 2);
        }

        var error = Assert.Throws<InvalidDataException>(() => ResourceStore.Open(directory.Path, options).DisposeAsync().AsTask().GetAwaiter().GetResult());
        Assert.True(error.Message.Contains("cannot be recovered", StringComparison.Ordinal), error.Message);
        Assert.True(error.Message.Contains(lost ? "valid segment" : "kv.log." + segment, StringComparison.Ordinal), error.Message);
    }

    // A byte changed in a record of the write-ahead log that the open must replay (writes after the
    // last checkpoint): the open refuses with the reason, instead of FASTER's checksum exception
    // escaping unexplained. The damage lies before the log's last metadata commit (400 commits,
    // one file per WriteAheadLog.MetadataCommitInterval): damage after it is not detected (FASTER's
    // recovery scans forward from there and takes a damaged record for the end; see README).
    [Fact]
    public async Task Reopen_WhenALogRecordToReplayIsDamaged_RefusesToOpen()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, Small))
        {
            for (int start = 0; start < 2_000; start += 5)
            {
                var batch = Enumerable.Range(start, 5).Select(i => new NewResource("u" + i, "user" + i, null, Body("{\"n\":\"" + new string('x', 900) + "\"}"))).ToList();
                Assert.All(await store.CreateBatchAsync(s_tenant, User, batch), r => Assert.Equal(StoreStatus.Ok, r.Status));
            }
        }

        string file = Path.Combine(directory.Path, "wal", "wal.log.0");
        Assert.True(new FileInfo(file).Length > 1_000_000, "the creates are not in the log's first file");
        FileDamage.ChangeOneByte(file);
        var error = Assert.Throws<InvalidDataException>(() => ResourceStore.Open(directory.Path, Small).DisposeAsync().AsTask().GetAwaiter().GetResult());
        Assert.True(error.Message.Contains("cannot be recovered", StringComparison.Ordinal) && error.Message.Contains("fails its checksum", StringComparison.Ordinal), error.Message);
    }

    // Verify reads the whole store (over 10 minutes and gigabytes at 1,000,000 users): a cancelled
    // check ends instead of running on after its client hung up or the server began to stop.
    [Fact]
    public async Task Verify_Cancelled_Ends()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);
        await store.CreateAsync(s_tenant, User, "u1", "user1", null, Body("{}"));
        Assert.Empty(store.Verify());
        Assert.ThrowsAny<OperationCanceledException>(() => store.Verify(new CancellationToken(canceled: true)));
    }

    // The other way round: the write-ahead log's files lost after a checkpoint. The log reopens
    // empty below the checkpoint's mark; new writes would take addresses the next restart's replay
    // skips. Opening must fail loudly (before: it opened, and lost those writes at the next restart).
    [Fact]
    public async Task Reopen_WhenTheLogLostItsFiles_RefusesToOpen()
    {
        using var directory = new TempDirectory();
        await CreateAndCheckpointAsync(directory.Path, 50);

        Directory.Delete(Path.Combine(directory.Path, "wal"), recursive: true);
        var error = Assert.Throws<InvalidDataException>(() => ResourceStore.Open(directory.Path, Small).DisposeAsync().AsTask().GetAwaiter().GetResult());
        Assert.Contains("past the end of its write-ahead log", error.Message, StringComparison.Ordinal);
    }

    // A batch create whose ids the server just drew at random (IdIsFresh) does not look them up:
    // no resource and no tombstone can hold them. The same batch with ids given by a caller does,
    // and still finds a taken one.
    [Fact]
    public async Task BatchCreate_WithFreshIds_SkipsTheTwoLookupsPerId_OtherIdsAreStillChecked()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);
        const int count = 100;
        List<NewResource> Batch(string prefix, bool fresh) =>
            [.. Enumerable.Range(0, count).Select(i => new NewResource(Guid.NewGuid().ToString(), prefix + i, null, Body("{}"), IdIsFresh: fresh))];

        long before = store.Reads;
        var given = await store.CreateBatchAsync(s_tenant, User, Batch("given", fresh: false));
        long givenReads = store.Reads - before;
        before = store.Reads;
        var freshBatch = Batch("fresh", fresh: true);
        var fresh = await store.CreateBatchAsync(s_tenant, User, freshBatch);
        long freshReads = store.Reads - before;

        Assert.All(given, r => Assert.Equal((StoreStatus.Ok, 1L), r));
        Assert.All(fresh, r => Assert.Equal((StoreStatus.Ok, 1L), r));
        Assert.Equal(2 * count, givenReads - freshReads);
        Assert.Equal(1, store.Get(s_tenant, User, freshBatch[count - 1].Id)!.Version);

        // A caller's id that is taken is refused as before.
        var taken = await store.CreateBatchAsync(s_tenant, User, [new NewResource(freshBatch[0].Id, "another", null, Body("{}"))]);
        Assert.Equal(StoreStatus.AlreadyExists, taken[0].Status);
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task Create_Get_AndFindByIndexes()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);

        var (status, version) = await store.CreateAsync(s_tenant, User, "u1", "Ada@Example.com", "ext-1", Body("{ada}"));

        Assert.Equal((StoreStatus.Ok, 1L), (status, version));
        var stored = store.Get(s_tenant, User, "u1")!;
        Assert.Equal("{ada}", Encoding.UTF8.GetString(stored.Body));
        Assert.Equal("u1", store.FindByUniqueKey(s_tenant, User, "ada@example.COM"));
        Assert.Equal(["u1"], store.FindByExternalId(s_tenant, User, "ext-1"));
        Assert.Empty(store.FindByExternalId(s_tenant, User, "EXT-1")!); // externalId is caseExact
        Assert.Equal(["u1"], await store.FindByExternalIdAsync(s_tenant, User, "ext-1"));
        Assert.Empty((await store.FindByExternalIdAsync(s_tenant, User, "EXT-1"))!);
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task LookupIndex_FollowsEveryWrite_ManyKeysPerResource_AndSurvivesReplayAndCheckpoint()
    {
        const byte Emails = IndexEntry.FirstLookupIndex;
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, Small))
        {
            await store.CreateAsync(s_tenant, User, "u1", "ada", null, Body("{}"), [new(0, "u1"), new(Emails, "ADA@WORK"), new(Emails, "ADA@HOME")]);
            await store.CreateAsync(s_tenant, User, "u2", "bob", null, Body("{}"), [new(0, "u2"), new(Emails, "SHARED@TEAM")]);
            var batch = await store.CreateBatchAsync(s_tenant, User, [new NewResource("u3", "cy", null, Body("{}"), [new(0, "u3"), new(Emails, "SHARED@TEAM")])]);
            Assert.Equal(StoreStatus.Ok, batch[0].Status);

            Assert.Equal(["u1"], store.FindByLookup(s_tenant, User, Emails, "ADA@HOME"));
            Assert.Equal(["u2", "u3"], store.FindByLookup(s_tenant, User, Emails, "SHARED@TEAM")!.Order());
            Assert.Empty(store.FindByLookup(s_tenant, User, 0, "u1")!); // ordered indexes are not lookups
            Assert.Empty(store.FindByLookup(new TenantId(8), User, Emails, "ADA@HOME")!); // scoped by tenant

            // A replace drops the keys it no longer has and keeps or adds the rest.
            await store.ReplaceAsync(s_tenant, User, "u1", null, "ada", null, Body("{}"), [new(0, "u1"), new(Emails, "ADA@WORK"), new(Emails, "ADA@NEW")]);
            Assert.Empty(store.FindByLookup(s_tenant, User, Emails, "ADA@HOME")!);
            Assert.Equal(["u1"], store.FindByLookup(s_tenant, User, Emails, "ADA@NEW"));
            Assert.Equal(["u1"], store.FindByLookup(s_tenant, User, Emails, "ADA@WORK"));
            Assert.Empty(store.Verify());
            await store.CheckpointAsync();

            // After the checkpoint: replayed from the log on reopen.
            await store.DeleteAsync(s_tenant, User, "u2", null);
            Assert.Equal(["u3"], store.FindByLookup(s_tenant, User, Emails, "SHARED@TEAM"));
            Assert.Empty(store.Verify());
        }

        await using (var reopened = ResourceStore.Open(directory.Path, Small))
        {
            Assert.Equal(["u3"], reopened.FindByLookup(s_tenant, User, Emails, "SHARED@TEAM"));
            Assert.Equal(["u1"], reopened.FindByLookup(s_tenant, User, Emails, "ADA@NEW"));
            Assert.Empty(reopened.FindByLookup(s_tenant, User, Emails, "ADA@HOME")!);
            Assert.Empty(reopened.Verify());

            // Too many entries for one resource is refused, not truncated.
            var many = Enumerable.Range(0, ResourceStore.MaxIndexEntries + 1).Select(i => new IndexEntry(Emails, "E" + i)).ToArray();
            var (status, _) = await reopened.CreateAsync(s_tenant, User, "u9", "many", null, Body("{}"), many);
            Assert.Equal(StoreStatus.InvalidValue, status);
            Assert.Empty(reopened.FindByLookup(s_tenant, User, Emails, "E0")!);
        }
    }

    [Fact]
    public async Task IdListsPastTheCap_AreMarkedOverflowed_NotGrownWithoutBound()
    {
        const byte Emails = IndexEntry.FirstLookupIndex;
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, Small))
        {
            var batch = Enumerable.Range(0, ResourceStore.MaxListedIds + 1)
                .Select(i => new NewResource("u" + i, "n" + i, "same-ext", Body("{}"), [new(Emails, "SAME@MAIL")])).ToList();
            Assert.All(await store.CreateBatchAsync(s_tenant, User, batch), r => Assert.Equal(StoreStatus.Ok, r.Status));

            // Null: the index no longer answers for these values (callers scan); others still work.
            Assert.Null(store.FindByExternalId(s_tenant, User, "same-ext"));
            Assert.Null(store.FindByLookup(s_tenant, User, Emails, "SAME@MAIL"));
            Assert.Null(await store.FindByExternalIdAsync(s_tenant, User, "same-ext"));
            Assert.Null(await store.FindByLookupAsync(s_tenant, User, Emails, "SAME@MAIL"));
            await store.CreateAsync(s_tenant, User, "other", "other", "own-ext", Body("{}"), [new(Emails, "OWN@MAIL")]);
            Assert.Equal(["other"], store.FindByExternalId(s_tenant, User, "own-ext"));
            Assert.Equal(["other"], await store.FindByExternalIdAsync(s_tenant, User, "own-ext"));
            Assert.Equal(["other"], await store.FindByLookupAsync(s_tenant, User, Emails, "OWN@MAIL"));
            Assert.Empty((await store.FindByLookupAsync(s_tenant, User, Emails, "NONE@MAIL"))!);

            // Removing holders does not bring the list back (it no longer knows who holds it).
            await store.DeleteAsync(s_tenant, User, "u0", null);
            Assert.Null(store.FindByExternalId(s_tenant, User, "same-ext"));
            Assert.Empty(store.Verify());
        }

        await using (var reopened = ResourceStore.Open(directory.Path, Small))
        {
            Assert.Null(reopened.FindByLookup(s_tenant, User, Emails, "SAME@MAIL"));
            Assert.Equal(["other"], reopened.FindByLookup(s_tenant, User, Emails, "OWN@MAIL"));
            Assert.Empty(reopened.Verify());
        }
    }

    [Fact]
    public async Task AStoreFromBeforeLookupIndexes_AnswersLookupsWithNull_SoCallersScan()
    {
        const byte Emails = IndexEntry.FirstLookupIndex;
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, Small))
        {
            Assert.True(store.LookupIndexesComplete);
            await store.CreateAsync(s_tenant, User, "u1", "ada", null, Body("{}"), [new(Emails, "ADA@MAIL")]);
            Assert.Equal(["u1"], store.FindByLookup(s_tenant, User, Emails, "ADA@MAIL"));
        }

        // Without the marker the store cannot tell which resources were written with lookup entries.
        File.Delete(Path.Combine(directory.Path, "lookup-indexes"));
        await using (var reopened = ResourceStore.Open(directory.Path, Small))
        {
            Assert.False(reopened.LookupIndexesComplete);
            Assert.Null(reopened.FindByLookup(s_tenant, User, Emails, "ADA@MAIL"));
            Assert.Empty(reopened.Verify());
        }
    }

    [Fact]
    public async Task LookupIndex_ConcurrentWritersSharingAKey_LoseNoId()
    {
        const byte Emails = IndexEntry.FirstLookupIndex;
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);
        var writers = Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
        {
            string id = "u" + i;
            await store.CreateAsync(s_tenant, User, id, "n" + i, null, Body("{}"), [new(Emails, "SHARED")]);
            if (i % 2 == 0)
            {
                // Half move away again: the shared list must end with exactly the other half.
                await store.ReplaceAsync(s_tenant, User, id, null, "n" + i, null, Body("{}"), [new(Emails, "OWN" + i)]);
            }
        }));
        await Task.WhenAll(writers);

        var expected = Enumerable.Range(0, 64).Where(i => i % 2 == 1).Select(i => "u" + i).Order();
        Assert.Equal(expected, store.FindByLookup(s_tenant, User, Emails, "SHARED")!.Order());
        Assert.Equal(["u10"], store.FindByLookup(s_tenant, User, Emails, "OWN10"));
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task ABatchOfGroupsWithMembers_StoresEveryGroupWhole_AndSurvivesCheckpointAndReopen()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, Small))
        {
            var batch = new List<NewResource>
            {
                new("g1", "One", null, Body("{one}"), [new(0, "g1")], new MemberChange(false, ["a", "b"], [])),
                new("g2", "Two", null, Body("{two}"), [new(0, "g2")], new MemberChange(false, ["b"], [])),
                new("g3", "Three", null, Body("{three}"), [new(0, "g3")]),
            };
            Assert.All(await store.CreateBatchAsync(TenantId.Default, 2, batch), r => Assert.Equal(StoreStatus.Ok, r.Status));

            // Each body as written: a group with members goes into the log as a combined record,
            // and its stored value must still be the group alone.
            Assert.Equal("{one}", Encoding.UTF8.GetString(store.Get(TenantId.Default, 2, "g1")!.Body));
            Assert.Equal("{two}", Encoding.UTF8.GetString(store.Get(TenantId.Default, 2, "g2")!.Body));
            Assert.Equal("{three}", Encoding.UTF8.GetString(store.Get(TenantId.Default, 2, "g3")!.Body));
            Assert.Equal(["g1", "g2"], store.GetGroupsOf(TenantId.Default, "b").Order());
            Assert.Empty(store.Verify());
            await store.CheckpointAsync();
        }

        await using (var reopened = ResourceStore.Open(directory.Path, Small))
        {
            Assert.Equal("{two}", Encoding.UTF8.GetString(reopened.Get(TenantId.Default, 2, "g2")!.Body));
            Assert.Equal(["a", "b"], reopened.GetMembers(TenantId.Default, "g1").Order());
            Assert.Empty(reopened.Verify());
        }
    }

    [Fact]
    public async Task AGroupWriteWithAMemberChange_IsOneRecord_AndSurvivesReopen()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, Small))
        {
            var (status, _) = await store.CreateAsync(TenantId.Default, 2, "g", "Group", null, "{}"u8.ToArray(), members: new MemberChange(false, ["a", "b"], []));
            Assert.Equal(StoreStatus.Ok, status);
            var (replaced, version) = await store.ReplaceAsync(TenantId.Default, 2, "g", 1, "Group", null, "{}"u8.ToArray(), members: new MemberChange(false, ["c"], ["a"]));
            Assert.Equal(StoreStatus.Ok, replaced);
            Assert.Equal(2, version);

            // A stale version changes neither the group nor its members.
            var (stale, _) = await store.ReplaceAsync(TenantId.Default, 2, "g", 1, "Group", null, "{}"u8.ToArray(), members: new MemberChange(false, ["d"], []));
            Assert.Equal(StoreStatus.VersionMismatch, stale);
            Assert.Equal(["b", "c"], store.GetMembers(TenantId.Default, "g").Order());
            Assert.Empty(store.Verify());
        }

        // Replayed from the log alone (no checkpoint was taken).
        await using (var reopened = ResourceStore.Open(directory.Path, Small))
        {
            Assert.Equal(2, reopened.Get(TenantId.Default, 2, "g")!.Version);
            Assert.Equal(["b", "c"], reopened.GetMembers(TenantId.Default, "g").Order());
            Assert.Equal(["g"], reopened.GetGroupsOf(TenantId.Default, "c"));
            Assert.Empty(reopened.GetGroupsOf(TenantId.Default, "a"));
            Assert.Empty(reopened.Verify());
        }
    }

    [Theory]
    [InlineData("kept")]
    [InlineData("damaged")]
    [InlineData("stale")]   // an earlier checkpoint's snapshot (read early on open): refused for its mark, rebuilt
    public async Task OrderedIndexes_AreSnapshottedAtCheckpoint_AndRestoredOrRebuiltOnOpen(string snapshot)
    {
        bool loseTheSnapshot = snapshot != "kept";
        using var directory = new TempDirectory();
        string snapshotPath = Path.Combine(directory.Path, "ordered.snapshot");
        byte[]? stale = null;
        static IndexEntry[] Keys(int i) => [new(0, $"id-{i:D4}"), new(1, $"NAME-{(i * 7) % 100:D4}")];
        await using (var store = ResourceStore.Open(directory.Path, Small))
        {
            for (int i = 0; i < 60; i++)
            {
                await store.CreateAsync(s_tenant, User, $"id-{i:D4}", $"name-{(i * 7) % 100:D4}", null, Body("{}"), Keys(i));
            }

            await store.CheckpointAsync();
            stale = File.ReadAllBytes(snapshotPath);

            // After the checkpoint: replayed from the log on top of the snapshot.
            for (int i = 60; i < 80; i++)
            {
                await store.CreateAsync(s_tenant, User, $"id-{i:D4}", $"name-{(i * 7) % 100:D4}", null, Body("{}"), Keys(i));
            }

            await store.DeleteAsync(s_tenant, User, "id-0003", null);
            if (snapshot == "stale")
            {
                await store.CheckpointAsync();
            }
        }

        Assert.True(File.Exists(Path.Combine(directory.Path, "ordered.snapshot")));
        if (loseTheSnapshot)
        {
            File.WriteAllBytes(snapshotPath, snapshot == "stale" ? stale! : [1, 2, 3]);
        }

        await using (var reopened = ResourceStore.Open(directory.Path, Small))
        {
            Assert.Equal(!loseTheSnapshot, reopened.OrderedIndexesFromSnapshot);

            // Writes right after open (while a snapshot may still be loading) queue behind the load.
            await reopened.CreateAsync(s_tenant, User, "id-0100", "name-x", null, Body("{}"), [new(0, "id-0100"), new(1, "NAME-X")]);
            await reopened.DeleteAsync(s_tenant, User, "id-0100", null);
            Assert.Empty(reopened.Verify());
            Assert.Equal(79, reopened.OrderedCount(s_tenant, User, 0));
            Assert.Equal(79, reopened.OrderedCount(s_tenant, User, 1));
            var byName = reopened.Page(s_tenant, User, 1, null, 200).Select(p => p.Key).ToList();
            Assert.Equal(byName.Order(StringComparer.Ordinal), byName);
            Assert.DoesNotContain(reopened.Page(s_tenant, User, 0, null, 200), p => p.Id == "id-0003");
            Assert.Contains(reopened.Page(s_tenant, User, 0, null, 200), p => p.Id == "id-0079");
        }
    }

    [Fact]
    public async Task Checkpoint_TruncatesTheLogBeforeItsMark_AndReopenStillRecoversEverything()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, Small))
        {
            for (int i = 0; i < 200; i++)
            {
                await store.CreateAsync(s_tenant, User, $"t{i}", $"name{i}", null, Body(new string('x', 400)));
            }

            long before = store.LogBeginAddress;
            await store.CheckpointAsync();
            Assert.True(store.LogBeginAddress > before, "the log before the checkpoint's mark is truncated");

            await store.CreateAsync(s_tenant, User, "after", "after", null, Body("{}"));
            await store.DeleteAsync(s_tenant, User, "t7", null);
        }

        await using (var reopened = ResourceStore.Open(directory.Path, Small))
        {
            Assert.NotNull(reopened.Get(s_tenant, User, "t199"));
            Assert.NotNull(reopened.Get(s_tenant, User, "after"));
            Assert.Null(reopened.Get(s_tenant, User, "t7"));
            Assert.Equal("t42", reopened.FindByUniqueKey(s_tenant, User, "NAME42"));
            Assert.Empty(reopened.Verify());
        }
    }

    [Fact]
    public async Task DuplicateUniqueKey_InAnyCase_IsAConflict()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);
        await store.CreateAsync(s_tenant, User, "u1", "ada", null, Body("1"));

        var (status, _) = await store.CreateAsync(s_tenant, User, "u2", "ADA", null, Body("2"));

        Assert.Equal(StoreStatus.UniquenessConflict, status);
        Assert.Null(store.Get(s_tenant, User, "u2"));
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task ConcurrentCreatesOfOneUserName_ExactlyOneWins()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);

        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
            (await store.CreateAsync(s_tenant, User, "u" + i, i % 2 == 0 ? "same.name" : "SAME.NAME", null, Body("x"))).Status)));

        Assert.Equal(1, results.Count(s => s == StoreStatus.Ok));
        Assert.Equal(63, results.Count(s => s == StoreStatus.UniquenessConflict));
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task Replace_BumpsTheVersion_AndMovesIndexes()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);
        await store.CreateAsync(s_tenant, User, "u1", "old.name", "ext-a", Body("v1"));

        var (status, version) = await store.ReplaceAsync(s_tenant, User, "u1", 1, "new.name", "ext-b", Body("v2"));

        Assert.Equal((StoreStatus.Ok, 2L), (status, version));
        Assert.Null(store.FindByUniqueKey(s_tenant, User, "old.name"));
        Assert.Equal("u1", store.FindByUniqueKey(s_tenant, User, "NEW.name"));
        Assert.Empty(store.FindByExternalId(s_tenant, User, "ext-a")!);
        Assert.Equal(["u1"], store.FindByExternalId(s_tenant, User, "ext-b"));
        Assert.Equal(StoreStatus.Ok, (await store.CreateAsync(s_tenant, User, "u2", "old.name", null, Body("freed"))).Status);
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task StaleExpectedVersion_IsAMismatch_AndChangesNothing()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);
        await store.CreateAsync(s_tenant, User, "u1", "a", null, Body("v1"));
        await store.ReplaceAsync(s_tenant, User, "u1", null, "a", null, Body("v2"));

        var (status, current) = await store.ReplaceAsync(s_tenant, User, "u1", 1, "a", null, Body("lost update"));

        Assert.Equal((StoreStatus.VersionMismatch, 2L), (status, current));
        Assert.Equal("v2", Encoding.UTF8.GetString(store.Get(s_tenant, User, "u1")!.Body));
        Assert.Equal(StoreStatus.VersionMismatch, await store.DeleteAsync(s_tenant, User, "u1", 1));
    }

    [Fact]
    public async Task Delete_RemovesTheResourceAndItsIndexEntries()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);
        await store.CreateAsync(s_tenant, User, "u1", "a", "ext", Body("1"));
        await store.CreateAsync(s_tenant, User, "u2", "b", "ext", Body("2"));

        Assert.Equal(StoreStatus.Ok, await store.DeleteAsync(s_tenant, User, "u1", null));

        Assert.Null(store.Get(s_tenant, User, "u1"));
        Assert.Null(store.FindByUniqueKey(s_tenant, User, "a"));
        Assert.Equal(["u2"], store.FindByExternalId(s_tenant, User, "ext"));
        Assert.Equal(StoreStatus.NotFound, await store.DeleteAsync(s_tenant, User, "u1", null));
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task Tenants_AreIsolated()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, Small);
        var other = new TenantId(8);

        await store.CreateAsync(s_tenant, User, "u1", "ada", "e", Body("mine"));
        var (status, _) = await store.CreateAsync(other, User, "u1", "ada", "e", Body("theirs"));

        Assert.Equal(StoreStatus.Ok, status);
        Assert.Equal("mine", Encoding.UTF8.GetString(store.Get(s_tenant, User, "u1")!.Body));
        Assert.Equal("theirs", Encoding.UTF8.GetString(store.Get(other, User, "u1")!.Body));
        Assert.Empty(store.Verify());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Reopen_RecoversFromCheckpointAndLog(bool checkpointHalfway)
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, Small))
        {
            for (int i = 0; i < 400; i++)
            {
                await store.CreateAsync(s_tenant, User, "u" + i, "name" + i, "ext" + (i % 10), Body("v1-" + i));
                if (checkpointHalfway && i == 200)
                {
                    await store.CheckpointAsync();
                }
            }

            for (int i = 0; i < 400; i += 3)
            {
                await store.ReplaceAsync(s_tenant, User, "u" + i, null, "renamed" + i, "ext" + (i % 7), Body("v2-" + i));
            }

            for (int i = 1; i < 400; i += 5)
            {
                await store.DeleteAsync(s_tenant, User, "u" + i, null);
            }
        }

        await using var reopened = ResourceStore.Open(directory.Path, Small);
        for (int i = 0; i < 400; i++)
        {
            var stored = reopened.Get(s_tenant, User, "u" + i);
            if (i % 5 == 1)
            {
                Assert.Null(stored);
                continue;
            }

            Assert.NotNull(stored);
            Assert.Equal(i % 3 == 0 ? "v2-" + i : "v1-" + i, Encoding.UTF8.GetString(stored!.Body));
            Assert.Equal("u" + i, reopened.FindByUniqueKey(s_tenant, User, (i % 3 == 0 ? "renamed" : "name") + i));
        }

        Assert.Empty(reopened.Verify());
    }
}

public sealed class ResourceStoreBatchTests
{
    [Fact]
    public async Task BatchCreate_CommitsOnce_AndRejectsOnlyTheConflictingItems()
    {
        using var directory = new TempDirectory();
        var tenant = new TenantId(1);
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            await store.CreateAsync(tenant, 1, "existing", "taken", null, "x"u8.ToArray());
            var items = Enumerable.Range(0, 1000).Select(i => new NewResource("b" + i, "name" + i, "ext" + (i % 3), Encoding.UTF8.GetBytes("body" + i))).ToList();
            items.Add(new NewResource("dup-name", "NAME5", null, "y"u8.ToArray()));   // same name as b5, other case
            items.Add(new NewResource("existing", "other", null, "z"u8.ToArray()));   // id exists
            items.Add(new NewResource("takes-taken", "TAKEN", null, "w"u8.ToArray())); // name held by a stored resource

            var results = await store.CreateBatchAsync(tenant, 1, items);

            Assert.All(results.Take(1000), r => Assert.Equal(StoreStatus.Ok, r.Status));
            Assert.Equal([StoreStatus.UniquenessConflict, StoreStatus.AlreadyExists, StoreStatus.UniquenessConflict], results.Skip(1000).Select(r => r.Status));
            Assert.Empty(store.Verify());
        }

        await using var reopened = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        Assert.Equal("body999", Encoding.UTF8.GetString(reopened.Get(tenant, 1, "b999")!.Body));
        Assert.Equal(334, reopened.FindByExternalId(tenant, 1, "ext0")!.Count);
        Assert.Empty(reopened.Verify());
    }
}

public sealed class MembershipTests
{
    private static readonly TenantId s_tenant = new(3);

    [Fact]
    public async Task AddRemoveList_BothDirections()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);

        await store.ChangeMembersAsync(s_tenant, "g1", false, ["u1", "u2", "u3"], []);
        await store.ChangeMembersAsync(s_tenant, "g2", false, ["u1"], []);
        await store.ChangeMembersAsync(s_tenant, "g1", false, ["u4", "u1"], ["u2", "not-a-member"]);

        Assert.Equal(["u1", "u3", "u4"], store.GetMembers(s_tenant, "g1").Order());
        Assert.Equal(3, store.MemberCount(s_tenant, "g1"));
        Assert.Equal(["g1", "g2"], store.GetGroupsOf(s_tenant, "u1").Order());
        Assert.Empty(store.GetGroupsOf(s_tenant, "u2"));
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task RemoveAllThenAdd_ReplacesTheMembers()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        await store.ChangeMembersAsync(s_tenant, "g", false, [.. Enumerable.Range(0, 600).Select(i => "u" + i)], []);

        await store.ChangeMembersAsync(s_tenant, "g", true, ["new1", "new2"], []);

        Assert.Equal(["new1", "new2"], store.GetMembers(s_tenant, "g").Order());
        Assert.Empty(store.GetGroupsOf(s_tenant, "u5"));
        Assert.Empty(store.Verify());
    }

    [Fact]
    public async Task ManyPages_AddAndRemoveAnywhere_KeepCountAndListing()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        var members = Enumerable.Range(0, 3_000).Select(i => "m" + i).ToList();
        for (int i = 0; i < members.Count; i += 500)
        {
            await store.ChangeMembersAsync(s_tenant, "big", false, members.GetRange(i, 500), []);
        }

        var removed = members.Where((_, i) => i % 7 == 0).ToList();
        await store.ChangeMembersAsync(s_tenant, "big", false, ["late1", "late2"], removed);

        var expected = members.Except(removed).Append("late1").Append("late2").Order().ToList();
        Assert.Equal(expected, store.GetMembers(s_tenant, "big").Order());
        Assert.Equal(expected.Count, store.MemberCount(s_tenant, "big"));
        Assert.False(store.IsMember(s_tenant, "big", "m7"));
        Assert.True(store.IsMember(s_tenant, "big", "m8"));
    }

    [Fact]
    public async Task Membership_SurvivesReopen_ByLogReplay()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            await store.ChangeMembersAsync(s_tenant, "g", false, ["a", "b", "c"], []);
            await store.CheckpointAsync();
            await store.ChangeMembersAsync(s_tenant, "g", false, ["d"], ["a"]);
            await store.RemoveFromAllGroupsAsync(s_tenant, "b");
        }

        await using var reopened = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        Assert.Equal(["c", "d"], reopened.GetMembers(s_tenant, "g").Order());
        Assert.Empty(reopened.GetGroupsOf(s_tenant, "b"));
        Assert.Empty(reopened.Verify());
    }
}

public sealed class MembershipConcurrencyTests
{
    [Fact]
    public async Task ConcurrentMemberAdds_ToOneGroup_LoseNoMember()
    {
        using var directory = new TempDirectory();
        var tenant = new TenantId(4);
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);

        // 16 writers, each adding its own members one PATCH at a time, some removing again.
        await Parallel.ForAsync(0, 16, async (writer, ct) =>
        {
            for (int i = 0; i < 60; i++)
            {
                await store.ChangeMembersAsync(tenant, "g", false, [$"w{writer}-m{i}"], i % 10 == 9 ? [$"w{writer}-m{i - 1}"] : [], ct);
            }
        });

        var expected = Enumerable.Range(0, 16).SelectMany(w => Enumerable.Range(0, 60).Where(i => i % 10 != 8).Select(i => $"w{w}-m{i}")).Order().ToList();
        Assert.Equal(expected, store.GetMembers(tenant, "g").Order());
        Assert.Equal(expected.Count, store.MemberCount(tenant, "g"));
        Assert.Empty(store.Verify());
    }
}

public sealed class ResourceStoreEdgeTests
{
    private static readonly TenantId s_tenant = new(9);

    [Fact]
    public async Task VersionsKeepGrowing_AcrossDeleteAndRecreate()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            await store.CreateAsync(s_tenant, 1, "u", "alice", null, "1"u8.ToArray());
            await store.ReplaceAsync(s_tenant, 1, "u", null, "alice", null, "2"u8.ToArray());
            Assert.Equal(StoreStatus.Ok, await store.DeleteAsync(s_tenant, 1, "u", 2));

            var (status, version) = await store.CreateAsync(s_tenant, 1, "u", "alice", null, "again"u8.ToArray());

            Assert.Equal((StoreStatus.Ok, 4L), (status, version)); // 1, 2, delete 3, create 4
            Assert.Equal(StoreStatus.VersionMismatch, (await store.ReplaceAsync(s_tenant, 1, "u", 2, "alice", null, "stale"u8.ToArray())).Status);
            await store.CheckpointAsync();
            await store.DeleteAsync(s_tenant, 1, "u", null);
            await store.CreateAsync(s_tenant, 1, "u2", "ALICE", null, "other"u8.ToArray());
        }

        // Replay from the checkpoint over delete + a new owner of the name keeps the index right.
        await using var reopened = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        Assert.Null(reopened.Get(s_tenant, 1, "u"));
        Assert.Equal("u2", reopened.FindByUniqueKey(s_tenant, 1, "alice"));
        Assert.Empty(reopened.Verify());
    }

    [Fact]
    public async Task KeysThatCannotBeStored_AreRejected()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);

        Assert.Equal(StoreStatus.InvalidValue, (await store.CreateAsync(s_tenant, 1, "u1", "bad\ud800name", null, "x"u8.ToArray())).Status);
        Assert.Equal(StoreStatus.InvalidValue, (await store.CreateAsync(s_tenant, 1, "u1", new string('n', 2000), null, "x"u8.ToArray())).Status);
        Assert.Equal(StoreStatus.TooLarge, (await store.CreateAsync(s_tenant, 1, "u1", "n", null, new byte[ResourceStore.MaxRecordBytes + 1])).Status);
        await Assert.ThrowsAsync<ArgumentException>(async () => await store.CreateAsync(s_tenant, 1, "bad\0id", "n", null, "x"u8.ToArray()));
        await Assert.ThrowsAsync<ArgumentException>(async () => await store.ChangeMembersAsync(s_tenant, "g", false, ["a\0b"], []));
        Assert.Null(store.Get(s_tenant, 1, "u1"));
        Assert.Empty(store.Verify());
    }
}

public sealed class OrderedIndexTests
{
    private const byte ByUserName = 0;
    private const byte ByLastModified = 1;
    private static readonly TenantId s_tenant = new(11);

    private static IndexEntry[] Keys(string userName, int minute) =>
        [new(ByUserName, userName.ToUpperInvariant()), new(ByLastModified, $"2026-11-29T10:{minute:D2}:00Z")];

    [Fact]
    public async Task Pages_FollowTheSortKeys_ThroughReplacesDeletesAndReopen()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            string[] names = ["delta", "Alpha", "charlie", "bravo", "echo"];
            for (int i = 0; i < names.Length; i++)
            {
                await store.CreateAsync(s_tenant, 1, "id" + i, names[i], null, "x"u8.ToArray(), Keys(names[i], i));
            }

            // "charlie" becomes "zulu" and is modified last; "bravo" is deleted.
            await store.ReplaceAsync(s_tenant, 1, "id2", null, "zulu", null, "y"u8.ToArray(), Keys("zulu", 59));
            await store.DeleteAsync(s_tenant, 1, "id3", null);

            Assert.Equal(["ALPHA", "DELTA", "ECHO", "ZULU"], store.Page(s_tenant, 1, ByUserName, null, 10).Select(p => p.Key));
            await store.CheckpointAsync();
            await store.CreateAsync(s_tenant, 1, "id9", "aardvark", null, "z"u8.ToArray(), Keys("aardvark", 30));
        }

        await using var reopened = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        Assert.Equal(["id9", "id1", "id0", "id4", "id2"], reopened.Page(s_tenant, 1, ByUserName, null, 10).Select(p => p.Id));
        Assert.Equal(["id2", "id9", "id4"], reopened.Page(s_tenant, 1, ByLastModified, null, 3, descending: true).Select(p => p.Id));
        Assert.Equal(5, reopened.OrderedCount(s_tenant, 1, ByUserName));

        // "meta.lastModified gt 10:03": the positions after a constructed cursor.
        var after = reopened.Page(s_tenant, 1, ByLastModified, new OrderedPosition("2026-11-29T10:03:00Z", "\uFFFE"), 10);
        Assert.Equal(["id4", "id9", "id2"], after.Select(p => p.Id));
        Assert.Empty(reopened.Verify());
    }

    [Fact]
    public async Task CursorPaging_VisitsEveryResourceOnce_WhileWritesContinue()
    {
        using var directory = new TempDirectory();
        await using var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        var batch = Enumerable.Range(0, 2_000).Select(i => new NewResource("u" + i.ToString("D5", System.Globalization.CultureInfo.InvariantCulture), "n" + i, null, "x"u8.ToArray(), [new IndexEntry(ByUserName, "N" + i.ToString("D5", System.Globalization.CultureInfo.InvariantCulture))])).ToList();
        await store.CreateBatchAsync(s_tenant, 1, batch);

        var seen = new List<string>();
        OrderedPosition? cursor = null;
        int added = 0;
        while (true)
        {
            var page = store.Page(s_tenant, 1, ByUserName, cursor, 97);
            if (page.Count == 0)
            {
                break;
            }

            seen.AddRange(page.Select(p => p.Id));
            cursor = page[^1];

            // A concurrent writer adds resources before and after the cursor.
            await store.CreateAsync(s_tenant, 1, "late" + added, "late" + added, null, "y"u8.ToArray(), [new IndexEntry(ByUserName, added % 2 == 0 ? "A" + added : "Z" + added)]);
            added++;
        }

        // Every original resource exactly once, in order; new ones behind the cursor are not revisited.
        var originals = seen.Where(id => id.StartsWith('u')).ToList();
        Assert.Equal(batch.Select(b => b.Id), originals);
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Empty(store.Verify());
    }
}
