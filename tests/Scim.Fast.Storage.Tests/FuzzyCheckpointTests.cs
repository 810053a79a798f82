using System.Text;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

/// <summary>
/// Checkpoints that let writes go on: writers wait only while in-flight writes drain and FASTER
/// cuts the checkpoint's version; the flush and the ordered-index snapshot run beside new writes.
/// A reopen (the checkpoint, the fuzzy snapshot, replay from the mark) must hold every write once,
/// in every index.
/// </summary>
public sealed class FuzzyCheckpointTests
{
    private const byte User = 1;
    private static readonly TenantId s_tenant = new(7);

    private static byte[] Body(string text) => Encoding.UTF8.GetBytes(text);

    // The id, name and "lastModified" ordered indexes and a lookup key, like a user's.
    private static IndexEntry[] Keys(string id, string name, int stamp) =>
        [new(0, id), new(1, name.ToUpperInvariant()), new(2, stamp.ToString("D8", System.Globalization.CultureInfo.InvariantCulture)), new(IndexEntry.FirstLookupIndex, "MAIL-" + name)];

    [Fact]
    public async Task WritesComplete_WhileTheCheckpointFlushes_AndAReopenHoldsThemOnceInEveryIndex()
    {
        using var directory = new TempDirectory();
        await using (var store = ResourceStore.Open(directory.Path, ResourceStoreTests.Small))
        {
            for (int i = 0; i < 500; i++)
            {
                Assert.Equal(StoreStatus.Ok, (await store.CreateAsync(s_tenant, User, "u" + i, "name" + i, null, Body("v1-" + i), Keys("u" + i, "name" + i, i))).Status);
            }

            // Until these writes are acknowledged the checkpoint cannot complete: with writes paused
            // for the whole checkpoint they never would be (the wait times out and the test fails).
            int during = 0;
            store.KeyValue.BeforeCheckpointCompletes = async () =>
            {
                var timeout = TimeSpan.FromSeconds(20);
                for (int i = 0; i < 50; i++)
                {
                    // Every kind of key moves: unique, ordered (name and stamp), lookup.
                    var (status, _) = await store.ReplaceAsync(s_tenant, User, "u" + i, null, "renamed" + i, null, Body("v2-" + i), Keys("u" + i, "renamed" + i, 1_000 + i)).AsTask().WaitAsync(timeout);
                    Assert.Equal(StoreStatus.Ok, status);
                    during++;
                }

                for (int i = 0; i < 10; i++)
                {
                    Assert.Equal(StoreStatus.Ok, (await store.CreateAsync(s_tenant, User, "n" + i, "new" + i, null, Body("n-" + i), Keys("n" + i, "new" + i, 2_000 + i)).AsTask().WaitAsync(timeout)).Status);
                    Assert.Equal(StoreStatus.Ok, await store.DeleteAsync(s_tenant, User, "u" + (100 + i), null).AsTask().WaitAsync(timeout));
                    during += 2;
                }
            };

            await store.CheckpointAsync();
            store.KeyValue.BeforeCheckpointCompletes = null;
            Assert.Equal(70, during);
            Assert.Empty(store.Verify());
        }

        await using var reopened = ResourceStore.Open(directory.Path, ResourceStoreTests.Small);
        Assert.True(reopened.OrderedIndexesFromSnapshot, "the snapshot saved beside the writes matches the checkpoint's mark");
        Assert.Empty(reopened.Verify());
        for (byte index = 0; index < 3; index++)
        {
            Assert.Equal(500, reopened.OrderedCount(s_tenant, User, index));
        }

        for (int i = 0; i < 50; i++)
        {
            Assert.Equal("v2-" + i, Encoding.UTF8.GetString(reopened.Get(s_tenant, User, "u" + i)!.Body));
            Assert.Equal("u" + i, reopened.FindByUniqueKey(s_tenant, User, "renamed" + i));
            Assert.Null(reopened.FindByUniqueKey(s_tenant, User, "name" + i));
            Assert.Equal([], reopened.FindByLookup(s_tenant, User, IndexEntry.FirstLookupIndex, "MAIL-name" + i));
            Assert.Equal(["u" + i], reopened.FindByLookup(s_tenant, User, IndexEntry.FirstLookupIndex, "MAIL-renamed" + i));
        }

        for (int i = 0; i < 10; i++)
        {
            Assert.NotNull(reopened.Get(s_tenant, User, "n" + i));
            Assert.Null(reopened.Get(s_tenant, User, "u" + (100 + i)));
        }

        // By name: the renamed users sort under R, each once.
        var byName = reopened.Page(s_tenant, User, 1, null, 1_000);
        Assert.Equal(500, byName.Count);
        Assert.Equal(50, byName.Count(p => p.Key.StartsWith("RENAMED", StringComparison.Ordinal)));
        Assert.Equal(500, byName.Select(p => p.Id).Distinct().Count());
    }

    [Fact]
    public async Task ASnapshotSavedWhileEntriesMove_LoadsSorted_KeepsEveryUntouchedEntry_AndConvergesUnderReplay()
    {
        using var directory = new TempDirectory();
        string path = Path.Combine(directory.Path, "ordered.snapshot");
        var tenant = new TenantId(3);
        var index = new OrderedIndex();

        // Untouched entries, many lock-sized chunks of them, and entries that keep moving.
        const int Stable = OrderedIndexSnapshot.EntriesPerLock * 25 + 17;
        const int Moving = 2_000;
        for (int i = 0; i < Stable; i++)
        {
            index.Add(tenant, User, 1, $"S{i:D6}", $"s{i}");
            index.Add(tenant, User, 0, $"s{i}", $"s{i}");
        }

        var keyOf = new string[Moving];
        for (int i = 0; i < Moving; i++)
        {
            keyOf[i] = $"M{i:D6}";
            index.Add(tenant, User, 1, keyOf[i], $"m{i}");
        }

        // The mover's changes, in order, as replay would meet them in the log.
        var changes = new List<(bool Add, byte Index, string Key, string Id)>();
        int mark = -1;
        using var saving = new ManualResetEventSlim();
        using var stop = new CancellationTokenSource();
        var mover = Task.Run(() =>
        {
            var random = new Random(11);
            while (!stop.IsCancellationRequested)
            {
                int i = random.Next(Moving);
                string id = $"m{i}";
                // Keys spread over the whole range, so moves cross the save's position both ways.
                string next = random.Next(3) == 0 ? $"A{random.Next(1_000_000):D6}" : $"T{random.Next(1_000_000):D6}";
                if (keyOf[i] is { } current)
                {
                    if (random.Next(10) == 0)
                    {
                        index.Remove(tenant, User, 1, current, id);
                        lock (changes)
                        {
                            changes.Add((false, 1, current, id));
                        }

                        keyOf[i] = null!;
                        continue;
                    }

                    index.Move(tenant, User, 1, current, next, id);
                    lock (changes)
                    {
                        changes.Add((false, 1, current, id));
                        changes.Add((true, 1, next, id));
                    }
                }
                else
                {
                    index.Add(tenant, User, 1, next, id);
                    lock (changes)
                    {
                        changes.Add((true, 1, next, id));
                    }
                }

                keyOf[i] = next;
                if (changes.Count > 2_000)
                {
                    saving.Set();
                }
            }
        });

        Assert.True(saving.Wait(TimeSpan.FromSeconds(30)), "the mover made no changes");
        lock (changes)
        {
            // Every change before this point is in the index: the snapshot's replay mark.
            mark = changes.Count;
        }

        index.Save(path, 42);
        stop.Cancel();
        await mover;
        Assert.True(changes.Count - mark > 0, "nothing moved while the snapshot was saved");

        var loaded = OrderedIndexSnapshot.TryLoad(path, 42);
        Assert.NotNull(loaded);   // null: out of order or damaged
        var names = loaded[(tenant.Value, User, 1)];
        var ids = loaded[(tenant.Value, User, 0)];
        Assert.True(ids.KeysAreIds);
        Assert.Equal(Stable, ids.Count);
        for (int i = 0; i < Stable; i++)
        {
            Assert.True(names.Contains(new OrderedPosition($"S{i:D6}", $"s{i}")), $"untouched entry S{i:D6} missing from the snapshot");
        }

        // Replay from the mark, as recovery does (idempotent adds and removes, in order): the
        // loaded tree becomes the live one.
        for (int c = mark; c < changes.Count; c++)
        {
            var (add, _, key, id) = changes[c];
            if (add)
            {
                names.Add(new OrderedPosition(key, id));
            }
            else
            {
                names.Remove(new OrderedPosition(key, id));
            }
        }

        var live = index.All().Where(e => e.Index == 1).Select(e => new OrderedPosition(e.Key, e.Id)).ToList();
        Assert.Equal(live, names.All().ToList());
    }
}
