using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

using static Scim.Fast.Server.Tests.Events.EventStreamClient;
using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests.Events;

/// <summary>
/// Push delivery's ordering contract (issue 15, RFC 8935): several SETs in flight, never two of one
/// subject, so each subject's events arrive in version order; a subject whose SETs the receiver
/// keeps refusing is parked while the others go on, and stays parked across a restart.
/// </summary>
public class PushDeliveryTests(EventsFixture server) : IClassFixture<EventsFixture>
{
    private static readonly string[] s_events = ["urn:ietf:params:scim:event:prov:create:notice", "urn:ietf:params:scim:event:prov:patch:notice"];

    [Fact]
    public async Task ConcurrentWritesToTheSameUsers_ArriveInVersionOrderPerSubject_WithSeveralInFlight()
    {
        await using var receiver = await Receiver.StartAsync(delay: TimeSpan.FromMilliseconds(20));
        await CreatePushStreamAsync(receiver.Url);

        var ids = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            ids.Add((await server.Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("order")))).Expect(HttpStatusCode.Created).Id);
        }

        // Four writers PATCH the same eight users at once: commit order decides each version.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async w =>
        {
            for (int round = 0; round < 5; round++)
            {
                foreach (string id in ids)
                {
                    var patch = Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = $"w{w}-r{round}" });
                    (await server.Client.Send(HttpMethod.Patch, Base + "/Users/" + id, patch)).Expect(HttpStatusCode.OK);
                }
            }
        }));

        int expected = ids.Count * (1 + (4 * 5));
        await receiver.WaitForAsync(expected, TimeSpan.FromSeconds(60));
        foreach (var (subject, versions) in receiver.VersionsBySubject())
        {
            Assert.True(versions.SequenceEqual(versions.Order()), $"{subject} received versions out of order: {string.Join(",", versions)}");
            Assert.Equal(21, versions.Distinct().Count());
        }

        Assert.True(receiver.MaxConcurrent >= 2, $"at most {receiver.MaxConcurrent} SET in flight");
    }

    [Fact]
    public async Task AFailingSubject_IsParked_OthersGoOn_AndItsEventsArriveInOrderAfterARestart()
    {
        await using var receiver = await Receiver.StartAsync(delay: TimeSpan.Zero);
        string blocked = (await server.Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("blocked")))).Expect(HttpStatusCode.Created).Id;
        receiver.Refuse("/Users/" + blocked);
        await CreatePushStreamAsync(receiver.Url);

        // The blocked user's three changes come first in the feed; the others follow.
        for (int i = 0; i < 3; i++)
        {
            var patch = Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "b" + i });
            (await server.Client.Send(HttpMethod.Patch, Base + "/Users/" + blocked, patch)).Expect(HttpStatusCode.OK);
        }

        var others = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            others.Add((await server.Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("free")))).Expect(HttpStatusCode.Created).Id);
        }

        await receiver.WaitForAsync(5, TimeSpan.FromSeconds(30));
        Assert.True(receiver.RefusedCount > 0);
        Assert.DoesNotContain("/Users/" + blocked, receiver.VersionsBySubject().Keys);
        Assert.Equal(others.Select(i => "/Users/" + i).Order(), receiver.VersionsBySubject().Keys.Order());

        // Parked positions are kept with the cursor: after a restart they are still delivered.
        await Task.Delay(500);
        await server.RestartAsync();
        receiver.Refuse(null);
        await receiver.WaitForAsync(8, TimeSpan.FromSeconds(30));
        var versions = receiver.VersionsBySubject()["/Users/" + blocked];
        Assert.Equal(3, versions.Distinct().Count());
        Assert.True(versions.SequenceEqual(versions.Order()), string.Join(",", versions));
    }

    private async Task CreatePushStreamAsync(string url)
    {
        var body = new JsonObject
        {
            ["delivery"] = new JsonObject { ["method"] = "urn:ietf:rfc:8935", ["endpoint_url"] = url },
            ["events_requested"] = new JsonArray([.. s_events.Select(e => (JsonNode)e)]),
        };
        (await server.Client.Send(HttpMethod.Post, Base + "/ssf/streams", body.ToJsonString(), mediaType: "application/json")).Expect(HttpStatusCode.Created);
    }

    /// <summary>A push receiver that answers 500 for one subject while told to, and records what it accepts.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly ConcurrentQueue<(string Subject, long Version)> _accepted = new();
        private WebApplication? _app;
        private volatile string? _refused;
        private int _inFlight;
        private int _refusedCount;

        public string Url { get; private set; } = "";

        public int MaxConcurrent;

        public int RefusedCount => Volatile.Read(ref _refusedCount);

        public void Refuse(string? subject) => _refused = subject;

        public static async Task<Receiver> StartAsync(TimeSpan delay)
        {
            var receiver = new Receiver();
            var (app, url) = await LoopbackReceiver.StartAsync(context => receiver.OnPostAsync(context, delay));
            receiver._app = app;
            receiver.Url = url;
            return receiver;
        }

        private async Task OnPostAsync(HttpContext context, TimeSpan delay)
        {
            int now = Interlocked.Increment(ref _inFlight);
            LoopbackReceiver.InterlockedMax(ref MaxConcurrent, now);
            try
            {
                var claims = Claims(await new StreamReader(context.Request.Body).ReadToEndAsync());
                string subject = Subject(claims);
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay);
                }

                if (subject == _refused)
                {
                    Interlocked.Increment(ref _refusedCount);
                    context.Response.StatusCode = 500;
                    return;
                }

                string version = (string)Event(claims)["version"]!;
                _accepted.Enqueue((subject, long.Parse(version[3..^1], System.Globalization.CultureInfo.InvariantCulture)));
                context.Response.StatusCode = 202;
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        /// <summary>Accepted versions per subject, in the order they arrived.</summary>
        public Dictionary<string, List<long>> VersionsBySubject()
        {
            var bySubject = new Dictionary<string, List<long>>(StringComparer.Ordinal);
            foreach (var (subject, version) in _accepted)
            {
                if (!bySubject.TryGetValue(subject, out var list))
                {
                    bySubject[subject] = list = [];
                }

                list.Add(version);
            }

            return bySubject;
        }

        public Task WaitForAsync(int count, TimeSpan timeout) => LoopbackReceiver.WaitForAsync(() => _accepted.Count, count, timeout);

        public async ValueTask DisposeAsync()
        {
            if (_app is not null)
            {
                await _app.DisposeAsync();
            }
        }
    }
}
