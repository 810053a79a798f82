using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

using Scim.Fast.Tests.Shared;

using Xunit.Abstractions;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// High availability on the Redis backend (issue 16, DESIGN-NOTES §11), with real processes: a
/// cluster of its own (three primaries, three replicas), two Scim.Fast server processes on it, and
/// writers creating users and adding them to one group through both hosts. Each round SIGKILLs the
/// primary that holds the tenant's hash slot; its replica is promoted, and the killed node comes
/// back as a supervisor would restart it (as the new primary's replica). While the slot has no
/// primary, or no replica to confirm a write, writes answer 503 with Retry-After, never a 500;
/// afterwards every acknowledged write is readable through either host by every index, unacknowledged
/// ones are whole or absent, and the backend's own check (GET /admin/verify) is clean. Then one host
/// is SIGKILLed while the other keeps serving without a single failure.
/// </summary>
public sealed class RedisFailoverTests(ITestOutputHelper output)
{
    private const string Token = "failover-test-token-0123456789";
    private const string AdminToken = "failover-admin-token-0123456789";
    private const int AcknowledgementsPerRound = 40;

    [Fact]
    public async Task KilledPrimary_LosesNoAcknowledgedWrite_AndTheWindowAnswers503()
    {
        await using var cluster = await RedisCluster.StartAsync();
        using var hosts = new RedisHosts(cluster);
        var state = new FailoverState();
        string[] settings = ["--Scim:BearerTokens:0=" + Token, "--Scim:AdminTokens:0=" + AdminToken];
        using var hostA = await hosts.StartAsync(settings);
        using var hostB = await hosts.StartAsync(settings);
        using var clientA = hostA.Client(Token, TimeSpan.FromSeconds(20));
        using var clientB = hostB.Client(Token, TimeSpan.FromSeconds(20));
        HttpClient[] clients = [clientA, clientB];
        state.Writes.GroupId = (await clientA.Send(HttpMethod.Post, "/scim/v2/Groups", Group("failover-group"))).Expect(HttpStatusCode.Created).Id;

        for (int round = 0; round < 2; round++)
        {
            var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, 6).Select(w => Task.Run(() => WriteAsync(clients[w % 2], state, $"fo-{round}-{w}", stop.Token))).ToArray();
            await WaitForAcknowledgementsAsync(state, AcknowledgementsPerRound);

            // The primary holding the tenant's slot: the one with the most keys (the tenant's
            // keys share one slot; the global directory key may sit elsewhere).
            var primary = cluster.Nodes.Where(n => RedisCluster.Role(n.Port) == "master")
                .OrderByDescending(n => long.Parse(RedisCluster.Cli(n.Port, "DBSIZE").Trim(), System.Globalization.CultureInfo.InvariantCulture)).First();
            int acknowledgedAtKill = state.Writes.Users.Count;
            var killedAt = Stopwatch.StartNew();
            cluster.Kill(primary);
            state.MarkKilled();

            // Its replica is promoted (cluster-node-timeout 2 s); then the node is restarted.
            var replica = cluster.Nodes.Single(n => n != primary && ReplicaOf(n.Port) == primary.Port);
            await RedisHosts.WaitForAsync(() => RedisCluster.Role(replica.Port) == "master", TimeSpan.FromSeconds(30), "the replica was not promoted");
            var promoted = killedAt.Elapsed;
            cluster.Restart(primary);

            // Writes go on through both hosts once the slot has a primary and a replica again.
            await WaitForAcknowledgementsAsync(state, state.Writes.Users.Count + 10);
            var firstWrite = state.FirstAcknowledgementAfterKill - state.KilledAt;
            await stop.CancelAsync();
            await Task.WhenAll(writers);
            output.WriteLine($"round {round}: promoted {promoted.TotalSeconds:0.0} s after the kill, first acknowledged write {firstWrite.TotalSeconds:0.0} s after it; " +
                $"{state.Writes.Users.Count - acknowledgedAtKill} acknowledged since, {state.Unavailable} answers 503 so far");
            Assert.True(state.Writes.Failures.IsEmpty, "during the failover: " + string.Join("\n", state.Writes.Failures.Take(5)));
            await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(60));
        }

        // The failing window was answered, and answered with 503 (the writers count them).
        Assert.True(state.Unavailable > 0, "no write met the failover: the test did not test it");
        await VerifyAsync(clientA, hostA, state);
        await VerifyAsync(clientB, hostB, state);

        // One host lost: the other serves every request, without a single failure.
        var lastStop = new CancellationTokenSource();
        var lastWriters = Enumerable.Range(0, 4).Select(w => Task.Run(() => WriteAsync(clientA, state, $"fo-host-{w}", lastStop.Token))).ToArray();
        int before = state.Writes.Users.Count;
        hostB.Kill();
        await WaitForAcknowledgementsAsync(state, before + AcknowledgementsPerRound);
        await lastStop.CancelAsync();
        await Task.WhenAll(lastWriters);
        Assert.True(state.Writes.Failures.IsEmpty, "with one host killed: " + string.Join("\n", state.Writes.Failures.Take(5)));
        await VerifyAsync(clientA, hostA, state);
        Assert.True(hostA.Failures.IsEmpty, "host A logged errors:\n" + string.Join("\n", hostA.Failures.Take(20)));

        // Every node lost: the host says it is not ready (load balancers stop sending), and
        // requests answer 503, not 500.
        using var probe = hostA.Client(Token);
        var ready = JsonNode.Parse(await probe.GetStringAsync("/readyz"))!;
        Assert.Equal("redis", (string?)ready["backend"]);
        foreach (var node in cluster.Nodes)
        {
            cluster.Kill(node);
        }

        await RedisHosts.WaitForAsync(() => probe.GetAsync("/readyz").Result.StatusCode == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30), "/readyz did not turn 503 with every node down");
        var refused = await clientA.Send(HttpMethod.Post, "/scim/v2/Users", AcknowledgedWrites.NewUser("fo-nobody"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
    }

    // The failover's clock and its 503s, beside what the writers were told.
    private sealed class FailoverState
    {
        private long _unavailable;
        private long _firstAfterKill;

        public AcknowledgedWrites Writes { get; } = new();

        public long Unavailable => Interlocked.Read(ref _unavailable);

        public DateTime KilledAt { get; private set; }

        public DateTime FirstAcknowledgementAfterKill => new(Interlocked.Read(ref _firstAfterKill), DateTimeKind.Utc);

        public void MarkKilled()
        {
            KilledAt = DateTime.UtcNow;
            Interlocked.Exchange(ref _firstAfterKill, 0);
        }

        public void CountUnavailable() => Interlocked.Increment(ref _unavailable);

        // The first create sent after the kill that was acknowledged: when its answer came.
        public void Acknowledge(DateTime sentAt)
        {
            if (KilledAt != default && sentAt > KilledAt)
            {
                Interlocked.CompareExchange(ref _firstAfterKill, DateTime.UtcNow.Ticks, 0);
            }
        }
    }

    // Creates users and adds each to the group. A 503 (with Retry-After) leaves the write
    // unacknowledged and the writer goes on after a pause; anything else that is not a success fails.
    private static async Task WriteAsync(HttpClient client, FailoverState state, string prefix, CancellationToken stop)
    {
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            string userName = $"{prefix}-{i}";
            state.Writes.Attempted.Add(userName);
            var sentAt = DateTime.UtcNow;
            try
            {
                var reply = await client.Send(HttpMethod.Post, "/scim/v2/Users", AcknowledgedWrites.NewUser(userName));
                if (await Unavailable(reply, state))
                {
                    continue;
                }

                if (reply.Status != HttpStatusCode.Created)
                {
                    state.Writes.Failures.Add($"create {userName}: {(int)reply.Status} {reply.Text}");
                    return;
                }

                state.Writes.Users[userName] = reply.Id;
                state.Acknowledge(sentAt);
                var added = await client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + state.Writes.GroupId, AcknowledgedWrites.AddMember(reply.Id));
                if (await Unavailable(added, state))
                {
                    continue;
                }

                if (added.Status != HttpStatusCode.NoContent)
                {
                    state.Writes.Failures.Add($"member add {reply.Id}: {(int)added.Status} {added.Text}");
                    return;
                }

                state.Writes.Members[reply.Id] = true;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                if (!stop.IsCancellationRequested)
                {
                    state.Writes.Failures.Add($"{userName}: {e.GetType().Name} {e.Message}");
                }

                return;
            }
        }
    }

    // RFC 7644 §3.12: 503 is "service unavailable"; the answer is a SCIM error with Retry-After.
    private static async Task<bool> Unavailable(Reply reply, FailoverState state)
    {
        if (reply.Status != HttpStatusCode.ServiceUnavailable)
        {
            return false;
        }

        if (reply.Body?["schemas"]?[0]?.ToString() != "urn:ietf:params:scim:api:messages:2.0:Error" || reply.Headers.RetryAfter is null)
        {
            state.Writes.Failures.Add("a 503 without a SCIM error body or Retry-After: " + reply.Text);
        }

        state.CountUnavailable();
        await Task.Delay(100);
        return true;
    }

    private static async Task VerifyAsync(HttpClient client, ServerProcess host, FailoverState state)
    {
        using var admin = host.Client(AdminToken);
        await state.Writes.VerifyAsync(client, admin);
    }

    private static async Task WaitForAcknowledgementsAsync(FailoverState state, int count)
    {
        var deadline = Stopwatch.StartNew();
        while (state.Writes.Users.Count < count)
        {
            Assert.True(state.Writes.Failures.IsEmpty, string.Join("\n", state.Writes.Failures.Take(5)));
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(90), $"only {state.Writes.Users.Count} of {count} writes acknowledged in 90 s");
            await Task.Delay(20);
        }
    }

    // The port of the primary a replica follows (ROLE: slave, host, port, state, offset).
    private static int ReplicaOf(int port)
    {
        var role = RedisCluster.Cli(port, "ROLE").Split('\n', StringSplitOptions.TrimEntries);
        return role[0] == "slave" ? int.Parse(role[2], System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

}
