using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;

using Scim.Fast.Tests.Shared;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// The durability claim end to end: the real server process takes creates and membership PATCHes
/// from concurrent clients and is killed with SIGKILL once it has acknowledged a number of writes,
/// several rounds on one data directory. While it is up every request must succeed (a 5xx, a
/// refused write or a dropped connection before the kill fails the test). After each restart every
/// write it acknowledged (201 / 204) is there, by id and by every index (userName, externalId,
/// membership both ways), the totals add up, nothing is half-applied, and the store's own
/// consistency check (GET /admin/verify) is clean.
/// </summary>
public sealed class ServerCrashTests
{
    private const string Token = "crash-test-token-0123456789";
    private const string AdminToken = "crash-admin-token-0123456789";

    // Acknowledgements to wait for before each kill, whatever the machine's speed.
    private const int AcknowledgementsPerRound = 60;

    [Fact]
    public async Task KilledServer_KeepsEveryAcknowledgedWrite()
    {
        string data = Path.Combine(Path.GetTempPath(), "scim-fast-crash-" + Guid.NewGuid().ToString("N"));
        var random = new Random(20261129);
        var state = new CrashState();
        try
        {
            for (int round = 0; round < 3; round++)
            {
                using var server = await StartServerAsync(data);
                using var client = server.Client(Token);
                await VerifyAsync(server, client, state);
                state.GroupId ??= (await client.Send(HttpMethod.Post, "/scim/v2/Groups", Group("crash-group"))).Expect(HttpStatusCode.Created).Id;

                int before = state.Acknowledged.Count;
                var killed = new CancellationTokenSource();
                var writers = Enumerable.Range(0, 8).Select(w => Task.Run(() => WriteUntilKilledAsync(client, state, $"crash-{round}-{w}", killed.Token))).ToArray();

                // Kill once enough writes were acknowledged (plus a random moment more), not after
                // a fixed delay that a busy machine might spend before the first answer.
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (state.Acknowledged.Count - before < AcknowledgementsPerRound && state.Failures.IsEmpty && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(10);
                }

                await Task.Delay(random.Next(0, 300));
                await killed.CancelAsync();
                server.Kill();
                await Task.WhenAll(writers);
                Assert.True(state.Failures.IsEmpty, "while the server was up: " + string.Join("\n", state.Failures.Take(5)));
                Assert.True(state.Acknowledged.Count - before >= AcknowledgementsPerRound, $"round {round}: only {state.Acknowledged.Count - before} writes acknowledged in 60 s");
            }

            using (var last = await StartServerAsync(data))
            {
                using var client = last.Client(Token);
                await VerifyAsync(last, client, state);
                await last.StopGracefullyAsync();
                Assert.Equal(0, last.ExitCode);
            }
        }
        finally
        {
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private sealed class CrashState
    {
        public ConcurrentDictionary<string, string> Acknowledged { get; } = new();   // userName → id

        public ConcurrentDictionary<string, bool> AcknowledgedMembers { get; } = new();

        public ConcurrentBag<string> Attempted { get; } = [];

        public ConcurrentBag<string> Failures { get; } = [];

        public string? GroupId { get; set; }
    }

    // Creates users and adds each to the group. Until the kill every answer must be a success; after
    // it, whatever was not answered is simply not acknowledged.
    private static async Task WriteUntilKilledAsync(HttpClient client, CrashState state, string prefix, CancellationToken killed)
    {
        for (int i = 0; !killed.IsCancellationRequested; i++)
        {
            string userName = $"{prefix}-{i}";
            state.Attempted.Add(userName);
            try
            {
                var reply = await client.Send(HttpMethod.Post, "/scim/v2/Users", User(userName, externalId: "x" + userName));
                if (reply.Status != HttpStatusCode.Created)
                {
                    state.Failures.Add($"create {userName}: {(int)reply.Status} {reply.Text}");
                    return;
                }

                state.Acknowledged[userName] = reply.Id;
                var patch = Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = reply.Id }) });
                var added = await client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + state.GroupId, patch);
                if (added.Status != HttpStatusCode.NoContent)
                {
                    state.Failures.Add($"member add {reply.Id}: {(int)added.Status} {added.Text}");
                    return;
                }

                state.AcknowledgedMembers[reply.Id] = true;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                if (!killed.IsCancellationRequested)
                {
                    state.Failures.Add($"{userName}: {e.GetType().Name} {e.Message} before the kill");
                }

                return;
            }
        }
    }

    private static async Task VerifyAsync(ServerProcess server, HttpClient client, CrashState state)
    {
        // Every acknowledged user by id, userName and externalId.
        foreach (var (userName, id) in state.Acknowledged)
        {
            var read = (await client.Get("/scim/v2/Users/" + id)).Expect(HttpStatusCode.OK);
            Assert.Equal(userName, (string?)read.Body!["userName"]);
            var byName = (await client.Get($"/scim/v2/Users?filter=userName+eq+%22{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal([id], Ids(byName));
            var byExternal = (await client.Get($"/scim/v2/Users?filter=externalId+eq+%22x{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal([id], Ids(byExternal));
        }

        // Unacknowledged creates are all-or-nothing: absent, or present and findable by both indexes.
        int presentUnacknowledged = 0;
        foreach (var userName in state.Attempted.Where(a => !state.Acknowledged.ContainsKey(a)))
        {
            var byName = (await client.Get($"/scim/v2/Users?filter=userName+eq+%22{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            var byExternal = (await client.Get($"/scim/v2/Users?filter=externalId+eq+%22x{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal(Ids(byName), Ids(byExternal));
            Assert.True((int)byName["totalResults"]! <= 1);
            presentUnacknowledged += (int)byName["totalResults"]!;
        }

        // The totals add up: every user there was acknowledged or is one of those.
        var all = (await client.Get("/scim/v2/Users?count=0")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(state.Acknowledged.Count + presentUnacknowledged, (int)all["totalResults"]!);

        if (state.GroupId is { } groupId)
        {
            // Every acknowledged link, both ways; no member that is not a user.
            var group = (await client.Get("/scim/v2/Groups/" + groupId)).Expect(HttpStatusCode.OK).Body!;
            var present = (group["members"] as JsonArray ?? []).Select(m => (string)m!["value"]!).ToHashSet();
            Assert.Empty(state.AcknowledgedMembers.Keys.Except(present));
            foreach (var member in present)
            {
                var user = (await client.Get("/scim/v2/Users/" + member)).Expect(HttpStatusCode.OK).Body!;
                Assert.Contains(groupId, user["groups"]!.AsArray().Select(g => (string)g!["value"]!));
            }
        }

        // And the store's own check: every resource against every index, both ways.
        using var admin = server.Client(AdminToken);
        using var verify = await admin.GetAsync("/admin/verify");
        Assert.Equal(HttpStatusCode.OK, verify.StatusCode);
        var problems = JsonNode.Parse(await verify.Content.ReadAsStringAsync())!["problems"]!.AsArray();
        Assert.True(problems.Count == 0, "Verify: " + string.Join("\n", problems.Take(10)));
    }

    // The server process with this test's tokens and a checkpoint a second; returns once /healthz answers.
    private static async Task<ServerProcess> StartServerAsync(string dataDirectory)
    {
        var server = await ServerProcess.StartAsync(ServerProcess.BuiltServerPath(),
        [
            "--Scim:DataDirectory=" + dataDirectory, "--Scim:BearerTokens:0=" + Token, "--Scim:AdminTokens:0=" + AdminToken,
            "--Logging:LogLevel:Default=Warning", "--Scim:CheckpointIntervalSeconds=1", "--Scim:Limits:RequestsPerSecondPerToken=0",
        ]);
        using var probe = server.Client(Token);
        (await probe.GetAsync("/healthz")).EnsureSuccessStatusCode();
        return server;
    }
}
