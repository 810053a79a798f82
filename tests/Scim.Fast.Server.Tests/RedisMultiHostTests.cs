using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Server.Tests.Events;
using Scim.Fast.Tests.Shared;

using Xunit.Abstractions;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// Several hosts on one Redis store hold nothing that matters between them (issue 16): tenants
/// first used on different hosts at the same moment get different numbers (so never each other's
/// data), a tenant registered by one host is served and listed by the other, and what one host
/// writes the other reads at once. Event streams are the store's, not a host's: one created
/// through one host is polled through the other, and a push stream is delivered by one host at a
/// time (a lease), by the other once that one is killed.
/// </summary>
public sealed class RedisMultiHostTests(ITestOutputHelper output)
{
    private const string AdminToken = "multi-host-admin-token-0123456789";
    private static readonly string[] s_tenants = ["north", "south", "east", "west"];

    [Fact]
    public async Task TenantsFirstUsedOnTwoHostsAtOnce_GetTheirOwnNumbers_AndBothHostsServeThem()
    {
        var cluster = await RedisCluster.Shared;
        using var hosts = new RedisHosts(cluster);
        using var hostA = await hosts.StartAsync(Settings());
        using var hostB = await hosts.StartAsync(Settings());

        // Each tenant's first request goes to both hosts at the same moment.
        var creates = new List<Task<Reply>>();
        foreach (string tenant in s_tenants)
        {
            foreach (var host in new[] { hostA, hostB })
            {
                var client = host.Client(Token(tenant));
                creates.Add(client.Send(HttpMethod.Post, $"/tenants/{tenant}/scim/v2/Users", User($"{tenant}-{host.Address.Port}@example.com")));
            }
        }

        foreach (var reply in await Task.WhenAll(creates))
        {
            reply.Expect(HttpStatusCode.Created);
        }

        // Every tenant sees its own two users, through either host, and nobody else's.
        foreach (string tenant in s_tenants)
        {
            foreach (var host in new[] { hostA, hostB })
            {
                using var client = host.Client(Token(tenant));
                var list = (await client.Get($"/tenants/{tenant}/scim/v2/Users?count=10")).Expect(HttpStatusCode.OK).Body!;
                var names = list["Resources"]!.AsArray().Select(r => (string)r!["userName"]!).Order(StringComparer.Ordinal).ToArray();
                string[] expected = [$"{tenant}-{hostA.Address.Port}@example.com", $"{tenant}-{hostB.Address.Port}@example.com"];
                Assert.Equal(expected.Order(StringComparer.Ordinal), names);
            }
        }

        // Both hosts list every tenant, with one number each, no number twice.
        foreach (var host in new[] { hostA, hostB })
        {
            using var admin = host.Client(AdminToken);
            var listed = JsonNode.Parse(await admin.GetStringAsync("/admin/tenants"))!["tenants"]!.AsArray()
                .Where(t => (string)t!["name"]! != "default").ToDictionary(t => (string)t!["name"]!, t => (long)t!["number"]!);
            Assert.Equal(s_tenants.Order(StringComparer.Ordinal), listed.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(listed.Count, listed.Values.Distinct().Count());
            Assert.All(listed, t => Assert.NotEqual(0, t.Value));
        }

        Assert.True(hostA.Failures.IsEmpty && hostB.Failures.IsEmpty, string.Join("\n", hostA.Failures.Concat(hostB.Failures).Take(20)));
    }

    [Fact]
    public async Task EventStreams_AreServedByEveryHost_AndPushIsTakenOverWhenItsHostIsKilled()
    {
        var cluster = await RedisCluster.Shared;
        using var hosts = new RedisHosts(cluster);
        var received = new ConcurrentQueue<JsonObject>();
        var (receiver, url) = await LoopbackReceiver.StartAsync(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            received.Enqueue(EventStreamClient.Claims(await reader.ReadToEndAsync()));
            context.Response.StatusCode = StatusCodes.Status202Accepted;
        });
        try
        {
            using var hostA = await hosts.StartAsync(Settings());
            using var hostB = await hosts.StartAsync(Settings());
            using var clientA = hostA.Client(DefaultToken);
            using var clientB = hostB.Client(DefaultToken);

            // A poll stream made through A is read, and acknowledged, through B.
            string poll = (string)(await EventStreamClient.CreatePollStreamAsync(clientA))["stream_id"]!;
            // A push stream made through A: A delivers it (it holds the lease).
            var push = new JsonObject
            {
                ["delivery"] = new JsonObject { ["method"] = "urn:ietf:rfc:8935", ["endpoint_url"] = url },
                ["events_requested"] = new JsonArray("urn:ietf:params:scim:event:prov:create:notice"),
            };
            (await clientA.Send(HttpMethod.Post, "/scim/v2/ssf/streams", push.ToJsonString(), mediaType: "application/json")).Expect(HttpStatusCode.Created);

            var first = await CreateUsersAsync(clientB, "ev-first", 20);
            var polled = await EventStreamClient.DrainAsync(clientB, poll);
            Assert.Equal(first.Order(StringComparer.Ordinal), polled.Where(c => EventStreamClient.EventUri(c).Contains(":create:", StringComparison.Ordinal))
                .Select(c => EventStreamClient.Subject(c)["/Users/".Length..]).Distinct().Order(StringComparer.Ordinal));

            // The stream's own SETs too: a verification asked through A is polled through B, and
            // once B has it acknowledged, A has nothing left to deliver.
            (await clientA.Send(HttpMethod.Post, "/scim/v2/ssf/verify", new JsonObject { ["stream_id"] = poll, ["state"] = "via-a" }.ToJsonString(), mediaType: "application/json")).Expect(HttpStatusCode.NoContent);
            var verified = await EventStreamClient.DrainAsync(clientB, poll);
            Assert.Equal("via-a", (string)EventStreamClient.Event(Assert.Single(verified))["state"]!);
            Assert.Empty((await EventStreamClient.PollAsync(clientA, poll)).Sets);

            // Pushed once each: B knows the stream (it polls the store for streams) but A holds the lease.
            await RedisHosts.WaitForAsync(() => Subjects(received).IsSupersetOf(first), TimeSpan.FromSeconds(30), "the push stream did not deliver the first users");
            await Task.Delay(6_000);   // longer than B's look for new streams: from now on B knows it
            var middle = await CreateUsersAsync(clientB, "ev-middle", 20);
            await RedisHosts.WaitForAsync(() => Subjects(received).IsSupersetOf(middle), TimeSpan.FromSeconds(30), "the push stream did not deliver the middle users");
            await Task.Delay(1_000);
            var jtis = received.Select(c => (string)c["jti"]!).ToList();
            Assert.Equal(jtis.Count, jtis.Distinct().Count());

            Assert.True(hostA.Failures.IsEmpty, string.Join("\n", hostA.Failures.Take(20)));

            // A is lost: B takes the lease over once it runs out and pushes what A never did.
            hostA.Kill();
            var stopwatch = Stopwatch.StartNew();
            var second = await CreateUsersAsync(clientB, "ev-second", 20);
            await RedisHosts.WaitForAsync(() => Subjects(received).IsSupersetOf(second), TimeSpan.FromSeconds(60), "host B did not take the push stream over");
            Assert.True(hostB.Failures.IsEmpty, string.Join("\n", hostB.Failures.Take(20)));

            // And the poll stream, acknowledged through B, has nothing of the first users again.
            var again = await EventStreamClient.DrainAsync(clientB, poll);
            Assert.Empty(again.Select(c => EventStreamClient.Subject(c)["/Users/".Length..]).Intersect(first));
            Assert.Equal(middle.Concat(second).Order(StringComparer.Ordinal), again.Where(c => EventStreamClient.EventUri(c).Contains(":create:", StringComparison.Ordinal))
                .Select(c => EventStreamClient.Subject(c)["/Users/".Length..]).Distinct().Order(StringComparer.Ordinal));
            output.WriteLine($"push taken over by host B {stopwatch.Elapsed.TotalSeconds:0.0} s after host A was killed");
        }
        finally
        {
            await receiver.DisposeAsync();
        }
    }

    [Fact]
    public async Task ParkedPushSets_SurviveAStatusChangeThroughAnotherHost_AndAreDeliveredAfterATakeover()
    {
        var cluster = await RedisCluster.Shared;
        using var hosts = new RedisHosts(cluster);
        var accepted = new ConcurrentQueue<JsonObject>();
        var refused = new StrongBox<string?>();
        var (receiver, url) = await LoopbackReceiver.StartAsync(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var claims = EventStreamClient.Claims(await reader.ReadToEndAsync());
            if ((string?)claims["sub_id"]?["uri"] is { } subject && subject == Volatile.Read(ref refused.Value))
            {
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                return;
            }

            accepted.Enqueue(claims);
            context.Response.StatusCode = StatusCodes.Status202Accepted;
        });
        try
        {
            using var hostA = await hosts.StartAsync(Settings());
            using var hostB = await hosts.StartAsync(Settings());
            using var clientA = hostA.Client(DefaultToken);
            using var clientB = hostB.Client(DefaultToken);
            string blocked = (await clientA.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("parked")))).Expect(HttpStatusCode.Created).Id;
            Volatile.Write(ref refused.Value, "/Users/" + blocked);

            // A push stream made through A (A holds the lease), known to B from the start.
            var push = new JsonObject
            {
                ["delivery"] = new JsonObject { ["method"] = "urn:ietf:rfc:8935", ["endpoint_url"] = url },
                ["events_requested"] = new JsonArray("urn:ietf:params:scim:event:prov:create:notice", "urn:ietf:params:scim:event:prov:patch:notice"),
            };
            string streamId = (string)(await clientA.Send(HttpMethod.Post, "/scim/v2/ssf/streams", push.ToJsonString(), mediaType: "application/json")).Expect(HttpStatusCode.Created).Body!["stream_id"]!;
            (await clientB.Get("/scim/v2/ssf/streams?stream_id=" + streamId)).Expect(HttpStatusCode.OK);

            // The refused user's changes are parked by A while the others are delivered.
            for (int i = 0; i < 2; i++)
            {
                var patch = Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "p" + i });
                (await clientA.Send(HttpMethod.Patch, "/scim/v2/Users/" + blocked, patch)).Expect(HttpStatusCode.OK);
            }

            var others = await CreateUsersAsync(clientA, "unparked", 3);
            await RedisHosts.WaitForAsync(() => Subjects(accepted).IsSupersetOf(others), TimeSpan.FromSeconds(30), "the other users were not pushed");
            await Task.Delay(1_000);   // A writes its cursor with the parked positions

            // B changes the stream's status: it must not write its own (empty) parked set over A's.
            (await clientB.Send(HttpMethod.Post, "/scim/v2/ssf/status", new JsonObject { ["stream_id"] = streamId, ["status"] = "enabled", ["reason"] = "checked" }.ToJsonString(), mediaType: "application/json")).Expect(HttpStatusCode.OK);

            // A is lost and the receiver recovers: B takes the lease over and delivers what A parked.
            hostA.Kill();
            Volatile.Write(ref refused.Value, null);
            await RedisHosts.WaitForAsync(() => accepted.Count(c => (string?)c["sub_id"]?["uri"] == "/Users/" + blocked) >= 2, TimeSpan.FromSeconds(60), "the parked SETs were not delivered after the takeover");
            Assert.True(hostB.Failures.IsEmpty, string.Join("\n", hostB.Failures.Take(20)));
        }
        finally
        {
            await receiver.DisposeAsync();
        }
    }

    private static HashSet<string> Subjects(IEnumerable<JsonObject> sets) =>
        sets.Select(c => EventStreamClient.Subject(c)["/Users/".Length..]).ToHashSet(StringComparer.Ordinal);

    private static async Task<List<string>> CreateUsersAsync(HttpClient client, string prefix, int count)
    {
        var ids = new List<string>();
        for (int i = 0; i < count; i++)
        {
            ids.Add((await client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique(prefix)))).Expect(HttpStatusCode.Created).Id);
        }

        return ids;
    }

    private const string DefaultToken = "multi-host-default-token-0123456789";

    private static string Token(string tenant) => $"multi-host-{tenant}-token-0123456789";

    // Every host: the admin and default tokens, loopback push receivers, and the named tenants.
    private static List<string> Settings()
    {
        var settings = new List<string>
        {
            "--Scim:AdminTokens:0=" + AdminToken, "--Scim:BearerTokens:0=" + DefaultToken, "--Scim:Events:AllowPrivatePushTargets=true",
        };
        foreach (string tenant in s_tenants)
        {
            settings.Add($"--Scim:Tenants:{tenant}:BearerTokens:0=" + Token(tenant));
        }

        return settings;
    }
}
