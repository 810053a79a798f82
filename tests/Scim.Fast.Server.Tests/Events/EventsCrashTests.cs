using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;

using Microsoft.AspNetCore.Builder;

using Scim.Fast.Tests.Shared;

using static Scim.Fast.Server.Tests.Events.EventStreamClient;
using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests.Events;

/// <summary>
/// The change feed's promise end to end (issue 15): the server process takes creates and PATCHes
/// from concurrent clients with a poller and a push receiver attached, and is killed with SIGKILL
/// mid-load, three rounds on one data directory. Afterwards, for both delivery methods: every
/// acknowledged write's event arrived (at least once); every event that arrived is of a write that
/// is durable; per subject, versions arrive in order; a retransmission has the same jti.
/// </summary>
public sealed class EventsCrashTests
{
    private const string Token = "events-crash-token-0123456789";
    private const string PatchNotice = "urn:ietf:params:scim:event:prov:patch:notice";
    private const string CreateNotice = "urn:ietf:params:scim:event:prov:create:notice";

    [Fact]
    public async Task KilledServer_DeliversEveryAcknowledgedWritesEvent_AndNoneOfAWriteThatWasLost()
    {
        string data = Path.Combine(Path.GetTempPath(), "scim-fast-events-crash-" + Guid.NewGuid().ToString("N"));
        await using var receiver = await PushReceiver.StartAsync();
        var acknowledged = new ConcurrentDictionary<(string Id, string Uri), string>();   // → ETag
        var polled = new ConcurrentQueue<(string Jti, JsonObject Claims)>();
        var failures = new ConcurrentBag<string>();
        string? pollStream = null;
        var random = new Random(20261205);
        try
        {
            for (int round = 0; round < 3; round++)
            {
                using var server = await StartServerAsync(data);
                using var client = server.Client(Token);
                if (pollStream is null)
                {
                    pollStream = (string)(await CreatePollStreamAsync(client, [CreateNotice, PatchNotice]))["stream_id"]!;
                    var push = new JsonObject
                    {
                        ["delivery"] = new JsonObject { ["method"] = "urn:ietf:rfc:8935", ["endpoint_url"] = receiver.Url },
                        ["events_requested"] = new JsonArray(CreateNotice, PatchNotice),
                    };
                    (await client.Send(HttpMethod.Post, Base + "/ssf/streams", push.ToJsonString(), mediaType: "application/json")).Expect(HttpStatusCode.Created);
                }

                using var killed = new CancellationTokenSource();
                int before = acknowledged.Count;
                var poller = Task.Run(() => PollUntilKilledAsync(client, pollStream, polled, killed.Token));
                var writers = Enumerable.Range(0, 6).Select(w => Task.Run(() => WriteUntilKilledAsync(client, $"ev-{round}-{w}", acknowledged, failures, killed.Token))).ToArray();
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (acknowledged.Count - before < 120 && failures.IsEmpty && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(10);
                }

                await Task.Delay(random.Next(0, 300));
                await killed.CancelAsync();
                server.Kill();
                await Task.WhenAll(writers);
                await poller;
                Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(5)));
            }

            using var last = await StartServerAsync(data);
            using var final = last.Client(Token);
            foreach (var claims in await DrainAsync(final, pollStream!))
            {
                polled.Enqueue(((string)claims["jti"]!, claims));
            }

            // Push catches up on its own.
            var wait = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < wait && !acknowledged.Keys.All(k => receiver.Has(k.Id, k.Uri, acknowledged[k])))
            {
                await Task.Delay(100);
            }

            await CheckAsync("poll", [.. polled], acknowledged, final);
            await CheckAsync("push", [.. receiver.Received], acknowledged, final);
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

    private static async Task CheckAsync(string method, List<(string Jti, JsonObject Claims)> received, ConcurrentDictionary<(string Id, string Uri), string> acknowledged, HttpClient client)
    {
        // Every acknowledged write's event, with the version the write answered.
        var seen = received.Select(r => ((string)r.Claims["sub_id"]!["uri"]!, EventUri(r.Claims), (string)Event(r.Claims)["version"]!)).ToHashSet();
        var missing = acknowledged.Where(a => !seen.Contains(("/Users/" + a.Key.Id, a.Key.Uri, a.Value))).Take(5).ToList();
        Assert.True(missing.Count == 0, $"{method}: events of acknowledged writes missing: {string.Join(", ", missing)}");

        // A retransmission is the same SET: one jti per (subject, event, version), one event per jti.
        var byEvent = received.GroupBy(r => ((string)r.Claims["sub_id"]!["uri"]!, EventUri(r.Claims), (string)Event(r.Claims)["version"]!));
        Assert.All(byEvent, g => Assert.Single(g.Select(r => r.Jti).Distinct()));

        // Per subject, first deliveries come in version order.
        var first = received.DistinctBy(r => r.Jti).ToList();
        foreach (var subject in first.GroupBy(r => (string)r.Claims["sub_id"]!["uri"]!))
        {
            var versions = subject.Select(r => Version(r.Claims)).ToList();
            Assert.True(versions.SequenceEqual(versions.Order()), $"{method}: {subject.Key} out of order: {string.Join(",", versions)}");
        }

        // Nothing of a write that was lost: every event's write is there (the resource at that version or later).
        foreach (var subject in first.GroupBy(r => (string)r.Claims["sub_id"]!["uri"]!))
        {
            var current = await client.Get(Base + subject.Key);
            Assert.True(current.Status == HttpStatusCode.OK, $"{method}: an event for {subject.Key}, which does not exist");
            long version = long.Parse(current.ETag!.Trim('W', '/', '"'), System.Globalization.CultureInfo.InvariantCulture);
            Assert.All(subject, r => Assert.True(Version(r.Claims) <= version, $"{method}: event of version {Version(r.Claims)} of {subject.Key}, which is at {version}"));
        }
    }

    private static long Version(JsonObject claims) =>
        long.Parse(((string)Event(claims)["version"]!).Trim('W', '/', '"'), System.Globalization.CultureInfo.InvariantCulture);

    private static async Task WriteUntilKilledAsync(HttpClient client, string prefix, ConcurrentDictionary<(string, string), string> acknowledged, ConcurrentBag<string> failures, CancellationToken killed)
    {
        for (int i = 0; !killed.IsCancellationRequested; i++)
        {
            try
            {
                var created = await client.Send(HttpMethod.Post, Base + "/Users", User($"{prefix}-{i}"));
                if (created.Status != HttpStatusCode.Created)
                {
                    failures.Add($"create: {(int)created.Status} {created.Text}");
                    return;
                }

                acknowledged[(created.Id, CreateNotice)] = created.ETag!;
                for (int p = 0; p < 2 && !killed.IsCancellationRequested; p++)
                {
                    var patched = await client.Send(HttpMethod.Patch, Base + "/Users/" + created.Id, Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "v" + p }));
                    if (patched.Status != HttpStatusCode.OK)
                    {
                        failures.Add($"patch: {(int)patched.Status} {patched.Text}");
                        return;
                    }

                    // The key is per write: the latest acknowledged patch of a user is the one checked.
                    acknowledged[(created.Id, PatchNotice)] = patched.ETag!;
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                if (!killed.IsCancellationRequested)
                {
                    failures.Add($"{e.GetType().Name} {e.Message} before the kill");
                }

                return;
            }
        }
    }

    private static async Task PollUntilKilledAsync(HttpClient client, string streamId, ConcurrentQueue<(string, JsonObject)> polled, CancellationToken killed)
    {
        List<string> ack = [];
        while (!killed.IsCancellationRequested)
        {
            try
            {
                var (sets, _) = await PollAsync(client, streamId, ack, returnImmediately: false);
                foreach (var (jti, set) in sets)
                {
                    polled.Enqueue((jti, Claims(set)));
                }

                ack = [.. sets.Select(s => s.Jti)];
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException or Xunit.Sdk.XunitException)
            {
                return;
            }
        }
    }

    // A tenant's writes before its first stream carry no change (nobody could read them). After a
    // kill the projector reads the log again from the last checkpoint (none here after the
    // writes): it must number exactly the entries it numbered before, or a receiver would get the
    // unwatched writes, or the watched ones again under other jtis.
    [Fact]
    public async Task AfterAKill_TheFeedIsProjectedAgainWithTheSameEntries_WhenWritesBeforeTheFirstStreamCarriedNone()
    {
        string data = Path.Combine(Path.GetTempPath(), "scim-fast-events-replay-" + Guid.NewGuid().ToString("N"));
        try
        {
            List<(string Jti, string Subject)> before;
            var watched = new List<string>();
            using (var server = await StartServerAsync(data, checkpointSeconds: 3600))
            using (var client = server.Client(Token))
            {
                for (int i = 0; i < 5; i++)
                {
                    (await client.Send(HttpMethod.Post, Base + "/Users", User(Unique("unwatched")))).Expect(HttpStatusCode.Created);
                }

                string stream = (string)(await CreatePollStreamAsync(client, [CreateNotice]))["stream_id"]!;
                for (int i = 0; i < 3; i++)
                {
                    watched.Add("/Users/" + (await client.Send(HttpMethod.Post, Base + "/Users", User(Unique("watched")))).Expect(HttpStatusCode.Created).Id);
                }

                before = await PollAllAsync(client, stream, watched.Count);
                Assert.Equal(watched, before.Select(s => s.Subject));
                server.Kill();
            }

            using var restarted = await StartServerAsync(data, checkpointSeconds: 3600);
            using var again = restarted.Client(Token);
            string streamId = before[0].Jti[..before[0].Jti.IndexOf('.', StringComparison.Ordinal)];
            var after = await PollAllAsync(again, streamId, watched.Count);
            Assert.Equal(before, after);
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

        // Unacknowledged SETs of a poll stream, waiting for the projector to catch up to count.
        static async Task<List<(string Jti, string Subject)>> PollAllAsync(HttpClient client, string stream, int count)
        {
            var sets = new List<(string, string)>();
            for (int attempt = 0; attempt < 100 && sets.Count < count; attempt++)
            {
                var (polled, _) = await PollAsync(client, stream, maxEvents: 50);
                sets = [.. polled.Select(s => (s.Jti, Subject(Claims(s.Set))))];
                await Task.Delay(sets.Count < count ? 100 : 0);
            }

            return sets;
        }
    }

    private static async Task<ServerProcess> StartServerAsync(string dataDirectory, int checkpointSeconds = 1)
    {
        var server = await ServerProcess.StartAsync(ServerProcess.BuiltServerPath(),
        [
            "--Scim:DataDirectory=" + dataDirectory, "--Scim:BearerTokens:0=" + Token,
            "--Logging:LogLevel:Default=Warning", "--Scim:CheckpointIntervalSeconds=" + checkpointSeconds, "--Scim:Limits:RequestsPerSecondPerToken=0",
            "--Scim:Events:AllowPrivatePushTargets=true", "--Scim:Events:MaxPollWaitSeconds=2",
        ]);
        using var probe = server.Client(Token);
        (await probe.GetAsync("/healthz")).EnsureSuccessStatusCode();
        return server;
    }

    /// <summary>A push receiver that takes every SET (202) and keeps them in arrival order.</summary>
    private sealed class PushReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string Jti, JsonObject Claims)> _received = new();
        private readonly ConcurrentDictionary<(string, string, string), bool> _index = new();

        private PushReceiver(WebApplication app) => _app = app;

        public string Url { get; private set; } = "";

        public List<(string Jti, JsonObject Claims)> Received => [.. _received];

        public bool Has(string id, string uri, string version) => _index.ContainsKey(("/Users/" + id, uri, version));

        public static async Task<PushReceiver> StartAsync()
        {
            PushReceiver? receiver = null;
            var (app, url) = await LoopbackReceiver.StartAsync(async context =>
            {
                string set = await new StreamReader(context.Request.Body).ReadToEndAsync();
                var claims = Claims(set);
                receiver!._received.Enqueue(((string)claims["jti"]!, claims));
                receiver._index[((string)claims["sub_id"]!["uri"]!, EventUri(claims), (string)Event(claims)["version"]!)] = true;
                context.Response.StatusCode = 202;
            });
            receiver = new PushReceiver(app) { Url = url };
            return receiver;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
