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
        var state = new AcknowledgedWrites();
        try
        {
            for (int round = 0; round < 3; round++)
            {
                using var server = await StartServerAsync(data);
                using var client = server.Client(Token);
                await VerifyAsync(server, client, state);
                state.GroupId ??= (await client.Send(HttpMethod.Post, "/scim/v2/Groups", Group("crash-group"))).Expect(HttpStatusCode.Created).Id;

                int before = state.Users.Count;
                var killed = new CancellationTokenSource();
                var writers = Enumerable.Range(0, 8).Select(w => Task.Run(() => WriteUntilKilledAsync(client, state, $"crash-{round}-{w}", killed.Token))).ToArray();

                // Kill once enough writes were acknowledged (plus a random moment more), not after
                // a fixed delay that a busy machine might spend before the first answer.
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (state.Users.Count - before < AcknowledgementsPerRound && state.Failures.IsEmpty && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(10);
                }

                await Task.Delay(random.Next(0, 300));
                await killed.CancelAsync();
                server.Kill();
                await Task.WhenAll(writers);
                Assert.True(state.Failures.IsEmpty, "while the server was up: " + string.Join("\n", state.Failures.Take(5)));
                Assert.True(state.Users.Count - before >= AcknowledgementsPerRound, $"round {round}: only {state.Users.Count - before} writes acknowledged in 60 s");
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

    // Creates users and adds each to the group. Until the kill every answer must be a success; after
    // it, whatever was not answered is simply not acknowledged.
    private static async Task WriteUntilKilledAsync(HttpClient client, AcknowledgedWrites state, string prefix, CancellationToken killed)
    {
        for (int i = 0; !killed.IsCancellationRequested; i++)
        {
            string userName = $"{prefix}-{i}";
            state.Attempted.Add(userName);
            try
            {
                var reply = await client.Send(HttpMethod.Post, "/scim/v2/Users", AcknowledgedWrites.NewUser(userName));
                if (reply.Status != HttpStatusCode.Created)
                {
                    state.Failures.Add($"create {userName}: {(int)reply.Status} {reply.Text}");
                    return;
                }

                state.Users[userName] = reply.Id;
                var added = await client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + state.GroupId, AcknowledgedWrites.AddMember(reply.Id));
                if (added.Status != HttpStatusCode.NoContent)
                {
                    state.Failures.Add($"member add {reply.Id}: {(int)added.Status} {added.Text}");
                    return;
                }

                state.Members[reply.Id] = true;
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

    private static async Task VerifyAsync(ServerProcess server, HttpClient client, AcknowledgedWrites state)
    {
        using var admin = server.Client(AdminToken);
        await state.VerifyAsync(client, admin);
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
