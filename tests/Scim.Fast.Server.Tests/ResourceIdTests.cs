using System.Collections.Concurrent;

using Scim.Fast.Server.Protocol;

namespace Scim.Fast.Server.Tests;

public sealed class ResourceIdTests
{
    // RFC 7643 §3.1: unique, never reassigned; RFC 9562 §5.4: version 4, variant 10.
    [Fact]
    public void NewIds_AreDistinctVersion4Uuids_AcrossThreads()
    {
        var seen = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 50_000; i++)
            {
                string id = ResourceIds.New();
                Assert.True(seen.TryAdd(id, true), $"id {id} was handed out twice");
                Assert.Equal(36, id.Length);
                Assert.True(Guid.TryParseExact(id, "D", out Guid _), id);
                Assert.Equal('4', id[14]);
                Assert.Contains(id[19], "89ab");
            }
        });

        Assert.Equal(200_000, seen.Count);
    }
}
