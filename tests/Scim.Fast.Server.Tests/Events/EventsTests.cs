using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

using Microsoft.AspNetCore.Builder;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

using static Scim.Fast.Server.Tests.Events.EventStreamClient;
using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests.Events;

/// <summary>
/// The server with push receivers allowed on loopback (the tests' receiver runs there) and push
/// retries capped at 2 s (parked subjects come back quickly).
/// </summary>
public class EventsFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments =>
    [
        "--Scim:Events:AllowPrivatePushTargets=true",
        "--Scim:Events:MaxPushRetrySeconds=2",
        "--Scim:Events:MaxPollWaitSeconds=5",
        "--Scim:Limits:RequestsPerSecondPerToken=0",
    ];
}

/// <summary>
/// SCIM events over HTTP against the real server (issue 15): the events each operation emits
/// (RFC 9967 §2.4), SETs that verify against the published JWKS (RFC 8417, RFC 7515), poll with
/// acknowledgements and redelivery (RFC 8936), long poll, server-sent events with resume, push with
/// failures, Retry-After, 410 and Standard Webhooks signatures (RFC 8935), SSF stream management,
/// and retention's resync.
/// </summary>
public class EventsTests(EventsFixture server) : IClassFixture<EventsFixture>
{
    private HttpClient Client => server.Client;

    [Fact]
    public async Task Metadata_IsInsertedBeforeTheIssuerPath_AndListsTheEndpoints()
    {
        var reply = await server.Anonymous.Get("/.well-known/ssf-configuration/scim/v2");
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        string issuer = server.BaseAddress.ToString().TrimEnd('/') + "/scim/v2";
        Assert.Equal(issuer, (string)reply.Body!["issuer"]!);
        Assert.Equal(issuer + "/ssf/jwks", (string)reply.Body["jwks_uri"]!);
        Assert.Equal(issuer + "/ssf/streams", (string)reply.Body["configuration_endpoint"]!);
        Assert.Contains("urn:ietf:rfc:8936", reply.Body["delivery_methods_supported"]!.AsArray().Select(m => (string)m!));

        var acme = await server.Anonymous.Get("/.well-known/ssf-configuration/tenants/acme/scim/v2");
        Assert.Equal(server.BaseAddress.ToString().TrimEnd('/') + "/tenants/acme/scim/v2", (string)acme.Body!["issuer"]!);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Anonymous.Get("/.well-known/ssf-configuration/elsewhere")).Status);

        // RFC 9967 §4: ServiceProviderConfig lists the event URIs; no asynchronous requests.
        var config = (await Client.Get(Base + "/ServiceProviderConfig")).Body!["securityEvents"]!;
        Assert.Equal("none", (string)config["asyncRequest"]!);
        Assert.Equal(AllEvents.Order(), config["eventUris"]!.AsArray().Select(u => (string)u!).Order());

        // Readiness reports the feed: no failure, lag in bytes.
        using var ready = await server.Anonymous.GetAsync("/readyz");
        var feed = JsonNode.Parse(await ready.Content.ReadAsStringAsync())!["changeFeed"]!;
        Assert.True((long)feed["lagBytes"]! >= 0);
        Assert.Null(feed["failed"]);
    }

    [Fact]
    public async Task EveryOperation_EmitsItsEvents_WithTheRightPayload()
    {
        var stream = await CreatePollStreamAsync(Client);
        string streamId = (string)stream["stream_id"]!;
        Assert.Equal(AllEvents.Length, stream["events_delivered"]!.AsArray().Count);

        string userName = Unique("ev-user");
        var user = User(userName, externalId: "ext-" + userName);
        user["active"] = true;
        var created = (await Client.Send(HttpMethod.Post, Base + "/Users", user)).Expect(HttpStatusCode.Created);
        string id = created.Id;
        user["active"] = false;
        user["displayName"] = "Replaced";
        (await Client.Send(HttpMethod.Put, Base + "/Users/" + id, user)).Expect(HttpStatusCode.OK);
        var patch = Patch(new JsonObject { ["op"] = "replace", ["path"] = "name.givenName", ["value"] = "Ada" }, new JsonObject { ["op"] = "replace", ["path"] = "active", ["value"] = true });
        var patched = (await Client.Send(HttpMethod.Patch, Base + "/Users/" + id, patch)).Expect(HttpStatusCode.OK);
        (await Client.Delete(Base + "/Users/" + id)).Expect(HttpStatusCode.NoContent);

        var events = await DrainAsync(Client, streamId);
        Assert.Equal(
            [
                "urn:ietf:params:scim:event:prov:create:full", "urn:ietf:params:scim:event:prov:create:notice", "urn:ietf:params:scim:event:prov:activate",
                "urn:ietf:params:scim:event:prov:put:full", "urn:ietf:params:scim:event:prov:put:notice", "urn:ietf:params:scim:event:prov:deactivate",
                "urn:ietf:params:scim:event:prov:patch:full", "urn:ietf:params:scim:event:prov:patch:notice", "urn:ietf:params:scim:event:prov:activate",
                "urn:ietf:params:scim:event:prov:delete",
            ],
            events.Select(EventUri).ToArray());
        Assert.All(events, e =>
        {
            Assert.Equal("/Users/" + id, Subject(e));
            Assert.Equal("scim", (string)e["sub_id"]!["format"]!);
            Assert.Equal("ext-" + userName, (string)e["sub_id"]!["externalId"]!);
            Assert.Equal(server.BaseAddress.ToString().TrimEnd('/') + "/scim/v2", (string)e["iss"]!);
            Assert.NotNull(e["txn"]);
            Assert.NotNull(e["toe"]);
            Assert.Null(e["sub"]);
            Assert.Null(e["exp"]);
        });

        // create:full carries the resource, notice its attributes; each event's version is the ETag.
        Assert.Equal(userName, (string)Event(events[0])["data"]!["userName"]!);
        Assert.Contains("userName", Event(events[1])["attributes"]!.AsArray().Select(a => (string)a!));
        Assert.Equal(created.ETag, (string)Event(events[0])["version"]!);
        Assert.Equal("Replaced", (string)Event(events[3])["data"]!["displayName"]!);

        // patch:full carries the PatchOp as sent; notice names the attributes it touched.
        Assert.Equal("Ada", (string)Event(events[6])["data"]!["Operations"]![0]!["value"]!);
        Assert.Equal(["name", "active"], Event(events[7])["attributes"]!.AsArray().Select(a => (string)a!).ToArray());
        Assert.Equal(patched.ETag, (string)Event(events[7])["version"]!);

        // The events of one write share its txn; writes differ.
        Assert.Equal((string)events[0]["txn"]!, (string)events[2]["txn"]!);
        Assert.NotEqual((string)events[0]["txn"]!, (string)events[3]["txn"]!);
        Assert.Equal(events.Count, events.Select(e => (string)e["jti"]!).Distinct().Count());
    }

    [Fact]
    public async Task GroupMembershipChanges_CarryTheMemberIds()
    {
        var stream = await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:create:full", "urn:ietf:params:scim:event:prov:patch:full", "urn:ietf:params:scim:event:prov:patch:notice"]);
        string a = (await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("m")))).Expect(HttpStatusCode.Created).Id;
        string b = (await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("m")))).Expect(HttpStatusCode.Created).Id;
        string group = (await Client.Send(HttpMethod.Post, Base + "/Groups", Group(Unique("g"), a))).Expect(HttpStatusCode.Created).Id;
        var membership = await Client.Send(HttpMethod.Patch, Base + "/Groups/" + group, Patch(
            new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = b }) },
            new JsonObject { ["op"] = "remove", ["path"] = $"members[value eq \"{a}\"]" }));
        Assert.True(membership.Status is HttpStatusCode.OK or HttpStatusCode.NoContent, membership.Text);

        var events = await DrainAsync(Client, (string)stream["stream_id"]!);
        var groupCreate = events.Single(e => Subject(e) == "/Groups/" + group && EventUri(e).EndsWith("create:full", StringComparison.Ordinal));
        Assert.Equal([a], Event(groupCreate)["data"]!["members"]!.AsArray().Select(m => (string)m!["value"]!).ToArray());
        var patchFull = events.Single(e => EventUri(e).EndsWith("patch:full", StringComparison.Ordinal));
        string operations = Event(patchFull)["data"]!["Operations"]!.ToJsonString();
        Assert.Contains(b, operations, StringComparison.Ordinal);
        Assert.Contains(a, operations, StringComparison.Ordinal);
        Assert.Equal(["members"], Event(events.Single(e => EventUri(e).EndsWith("patch:notice", StringComparison.Ordinal)))["attributes"]!.AsArray().Select(x => (string)x!).ToArray());
    }

    [Fact]
    public async Task BulkOperations_ShareTheRequestTxn_WithTheirIndex()
    {
        var stream = await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:create:notice"]);
        var operations = new JsonArray();
        for (int i = 0; i < 3; i++)
        {
            operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "b" + i, ["data"] = User(Unique("bulk")) });
        }

        var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
        (await Client.Send(HttpMethod.Post, Base + "/Bulk", bulk)).Expect(HttpStatusCode.OK);
        var events = await DrainAsync(Client, (string)stream["stream_id"]!);
        Assert.Equal(3, events.Count);
        var txns = events.Select(e => (string)e["txn"]!).ToArray();
        string request = txns[0][..txns[0].LastIndexOf(':')];
        Assert.Equal([request + ":0", request + ":1", request + ":2"], txns);
    }

    [Theory]
    [InlineData("ES256")]
    [InlineData("RS256")]
    public async Task Sets_VerifyAgainstThePublishedJwks(string alg)
    {
        var stream = await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:create:notice"], alg: alg);
        (await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("signed")))).Expect(HttpStatusCode.Created);
        var (sets, _) = await PollAsync(Client, (string)stream["stream_id"]!);
        string set = Assert.Single(sets).Set;

        var jwks = await server.Anonymous.Get(Base + "/ssf/jwks");
        Assert.Equal(HttpStatusCode.OK, jwks.Status);
        var keys = new JsonWebKeySet(jwks.Text).GetSigningKeys();
        string issuer = server.BaseAddress.ToString().TrimEnd('/') + "/scim/v2";
        var parameters = new TokenValidationParameters
        {
            IssuerSigningKeys = keys,
            ValidIssuer = issuer,
            ValidAudience = (string)stream["aud"]!,
            ValidateLifetime = false,
            RequireExpirationTime = false,
            ValidTypes = ["secevent+jwt"],
            ValidAlgorithms = [alg],
        };
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(set, parameters);
        Assert.True(result.IsValid, result.Exception?.ToString());
        Assert.Equal(alg, (string)Header(set)["alg"]!);

        // One changed byte in the claims and it no longer verifies.
        var parts = set.Split('.');
        char flipped = parts[1][10] == 'A' ? 'B' : 'A';
        string tampered = parts[0] + "." + parts[1][..10] + flipped + parts[1][11..] + "." + parts[2];
        Assert.False((await new JsonWebTokenHandler().ValidateTokenAsync(tampered, parameters)).IsValid);
    }

    [Fact]
    public async Task Poll_RedeliversUntilAcknowledged_InOrder_AcrossARestart()
    {
        var stream = await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:create:notice"]);
        string streamId = (string)stream["stream_id"]!;
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            ids.Add((await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("poll")))).Expect(HttpStatusCode.Created).Id);
        }

        var (first, more) = await PollAsync(Client, streamId, maxEvents: 3);
        Assert.True(more);
        Assert.Equal(ids.Take(3).Select(i => "/Users/" + i), first.Select(s => Subject(Claims(s.Set))));

        // Not acknowledged: the same SETs again, same jti.
        var (again, _) = await PollAsync(Client, streamId, maxEvents: 3);
        Assert.Equal(first.Select(s => s.Jti), again.Select(s => s.Jti));

        // The first and third acknowledged (out of order): the second comes back, then the rest.
        var (next, _) = await PollAsync(Client, streamId, ack: [first[0].Jti, first[2].Jti], maxEvents: 10);
        Assert.Equal(new[] { ids[1], ids[3], ids[4] }.Select(i => "/Users/" + i), next.Select(s => Subject(Claims(s.Set))));

        // The second and the fifth acknowledged: after a restart only the fourth comes back (the
        // acknowledgement past the cursor was kept with it).
        (await PollAsync(Client, streamId, ack: [next[0].Jti, next[2].Jti], maxEvents: 0)).Sets.ForEach(_ => Assert.Fail("maxEvents 0 returns nothing"));
        await server.RestartAsync();
        var (afterRestart, _) = await PollAsync(server.Client, streamId, maxEvents: 10);
        Assert.Equal(new[] { ids[3] }.Select(i => "/Users/" + i), afterRestart.Select(s => Subject(Claims(s.Set))));
        Assert.Equal([next[1].Jti], afterRestart.Select(s => s.Jti));

        var (empty, moreAfter) = await PollAsync(server.Client, streamId, ack: afterRestart.Select(s => s.Jti));
        Assert.Empty(empty);
        Assert.False(moreAfter);
    }

    [Fact]
    public async Task VerificationAndStatusEvents_AreKeptUntilAcknowledged_AcrossARestart()
    {
        // SSF 1.0 §8.1.4 verification and §8.1.2 stream-updated SETs are the stream's own: they
        // must reach the receiver after a restart as feed events do (they were in memory only).
        string streamId = (string)(await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:create:notice"]))["stream_id"]!;
        Assert.Equal(HttpStatusCode.NoContent, (await Client.Send(HttpMethod.Post, Base + "/ssf/verify", new JsonObject { ["stream_id"] = streamId, ["state"] = "kept" }.ToJsonString(), mediaType: "application/json")).Status);
        (await Client.Send(HttpMethod.Post, Base + "/ssf/status", new JsonObject { ["stream_id"] = streamId, ["status"] = "enabled", ["reason"] = "checked" }.ToJsonString(), mediaType: "application/json")).Expect(HttpStatusCode.OK);

        await server.RestartAsync();
        var (sets, _) = await PollAsync(server.Client, streamId, maxEvents: 10);
        var claims = sets.Select(s => Claims(s.Set)).ToList();
        Assert.Equal(2, claims.Count);
        var verification = Assert.Single(claims, c => EventUri(c) == "https://schemas.openid.net/secevent/ssf/event-type/verification");
        Assert.Equal("kept", (string)Event(verification)["state"]!);
        var updated = Assert.Single(claims, c => EventUri(c) == "https://schemas.openid.net/secevent/ssf/event-type/stream-updated");
        Assert.Equal("checked", (string)Event(updated)["reason"]!);

        // Acknowledged, they are gone, and stay gone after another restart.
        Assert.Empty((await PollAsync(server.Client, streamId, ack: sets.Select(s => s.Jti))).Sets);
        await server.RestartAsync();
        Assert.Empty((await PollAsync(server.Client, streamId)).Sets);
    }

    [Fact]
    public async Task VerificationRequests_NeverAcknowledged_KeepOnlyTheNewest()
    {
        // A receiver asking for verification again and again without acknowledging: the stream
        // keeps the newest 64 (StreamRegistry.MaxControls), not a record that grows without end.
        string streamId = (string)(await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:create:notice"]))["stream_id"]!;
        for (int i = 0; i < 70; i++)
        {
            Assert.Equal(HttpStatusCode.NoContent, (await Client.Send(HttpMethod.Post, Base + "/ssf/verify", new JsonObject { ["stream_id"] = streamId, ["state"] = "v" + i }.ToJsonString(), mediaType: "application/json")).Status);
        }

        var (sets, _) = await PollAsync(Client, streamId, maxEvents: 100);
        var states = sets.Select(s => (string)Event(Claims(s.Set))["state"]!).ToHashSet();
        Assert.Equal(64, states.Count);
        Assert.Contains("v69", states);
        Assert.DoesNotContain("v5", states);
        Assert.Contains("v6", states);
    }

    [Fact]
    public async Task LongPoll_ReturnsWhenAWriteCommits()
    {
        var stream = await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:create:notice"]);
        var polling = PollAsync(Client, (string)stream["stream_id"]!, returnImmediately: false);
        await Task.Delay(300);
        Assert.False(polling.IsCompleted, "a long poll with nothing to deliver waits");
        string id = (await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("long")))).Expect(HttpStatusCode.Created).Id;
        var (sets, _) = await polling.WaitAsync(TimeSpan.FromSeconds(4));
        Assert.Equal("/Users/" + id, Subject(Claims(Assert.Single(sets).Set)));
    }

    [Fact]
    public async Task ServerSentEvents_ResumeAfterLastEventId()
    {
        var stream = await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:create:notice"]);
        string streamId = (string)stream["stream_id"]!;
        var ids = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            ids.Add((await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("sse")))).Expect(HttpStatusCode.Created).Id);
        }

        var firstTwo = await ReadEventsAsync(streamId, lastEventId: null, count: 2);
        Assert.Equal(ids.Take(2).Select(i => "/Users/" + i), firstTwo.Select(e => Subject(Claims(e.Data))));
        Assert.All(firstTwo, e => Assert.Equal("urn:ietf:params:scim:event:prov:create:notice", e.Event));

        ids.Add((await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("sse")))).Expect(HttpStatusCode.Created).Id);
        var resumed = await ReadEventsAsync(streamId, lastEventId: firstTwo[1].Id, count: 2);
        Assert.Equal(ids.Skip(2).Select(i => "/Users/" + i), resumed.Select(e => Subject(Claims(e.Data))));

        using var bad = new HttpRequestMessage(HttpMethod.Get, Base + "/ssf/sse/" + streamId);
        bad.Headers.Add("Last-Event-ID", "not-an-id");
        Assert.Equal(HttpStatusCode.BadRequest, (await Client.SendAsync(bad)).StatusCode);
    }

    private async Task<List<(string Id, string Event, string Data)>> ReadEventsAsync(string streamId, string? lastEventId, int count)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Base + "/ssf/sse/" + streamId);
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var events = new List<(string, string, string)>();
        string? id = null, name = null, data = null;
        while (events.Count < count && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Length == 0)
            {
                if (data is not null)
                {
                    events.Add((id!, name!, data));
                }

                id = name = data = null;
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
        }

        return events;
    }

    [Fact]
    public async Task Push_RetriesHonouringRetryAfter_SignsWebhooks_AndStopsOn410()
    {
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        await using var receiver = await Receiver.StartAsync(fail: 1);
        var body = new JsonObject
        {
            ["delivery"] = new JsonObject { ["method"] = "urn:ietf:rfc:8935", ["endpoint_url"] = receiver.Url, ["authorization_header"] = "Bearer receiver-secret" },
            ["events_requested"] = new JsonArray("urn:ietf:params:scim:event:prov:create:notice", "urn:ietf:params:scim:event:prov:patch:notice"),
            ["webhook_secret"] = "whsec_" + Convert.ToBase64String(secret),
        };
        var stream = (await Client.Send(HttpMethod.Post, Base + "/ssf/streams", body.ToJsonString(), mediaType: "application/json")).Expect(HttpStatusCode.Created).Body!;
        string streamId = (string)stream["stream_id"]!;
        Assert.Null(stream["delivery"]!["authorization_header"]);

        var ids = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            ids.Add((await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("push")))).Expect(HttpStatusCode.Created).Id);
        }

        await receiver.WaitForAsync(4, TimeSpan.FromSeconds(20));
        // Push orders per subject (PushDeliveryTests), not across subjects: each user once, any order.
        Assert.Equal(ids.Select(i => "/Users/" + i).Order(), receiver.Accepted.Select(r => Subject(Claims(r.Set))).Order());
        Assert.Equal(1, receiver.Refused);
        var firstTry = receiver.Attempts[0];
        // Others may have been in flight beside it; its own retry waits for Retry-After.
        var retry = receiver.Attempts.Where(a => a.Jti == firstTry.Jti).Skip(1).First();
        Assert.Equal(firstTry.Jti, retry.Jti);
        Assert.Equal(firstTry.Set, retry.Set); // signed once, sent again as it was
        Assert.True(retry.At - firstTry.At >= TimeSpan.FromMilliseconds(900), $"Retry-After: 1 honoured ({(retry.At - firstTry.At).TotalMilliseconds:0} ms)");

        // Push signs each SET on the thread that sends it (not when it is read from the feed): every
        // one must still verify against the published keys.
        var jwks = await server.Anonymous.Get(Base + "/ssf/jwks");
        var parameters = new TokenValidationParameters
        {
            IssuerSigningKeys = new JsonWebKeySet(jwks.Text).GetSigningKeys(),
            ValidIssuer = server.BaseAddress.ToString().TrimEnd('/') + "/scim/v2",
            ValidateAudience = false,
            ValidateLifetime = false,
            RequireExpirationTime = false,
            ValidTypes = ["secevent+jwt"],
            ValidAlgorithms = ["ES256"],
        };
        List<Receiver.Received> attempts;
        lock (receiver.Attempts)
        {
            attempts = [.. receiver.Attempts];
        }

        foreach (var attempt in attempts)
        {
            var result = await new JsonWebTokenHandler().ValidateTokenAsync(attempt.Set, parameters);
            Assert.True(result.IsValid, result.Exception?.ToString());
        }
        Assert.All(receiver.Accepted, r =>
        {
            Assert.Equal("Bearer receiver-secret", r.Authorization);
            Assert.Equal("application/secevent+jwt", r.ContentType);
            Assert.Equal(r.Jti, r.WebhookId);
            string expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes(r.WebhookId + "." + r.WebhookTimestamp + "." + r.Set)));
            Assert.Equal(expected, r.WebhookSignature);
        });

        // 410 Gone disables the stream.
        receiver.Gone = true;
        (await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("gone")))).Expect(HttpStatusCode.Created);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string status = "";
        while (DateTime.UtcNow < deadline && status != "disabled")
        {
            status = (string)(await Client.Get(Base + "/ssf/status?stream_id=" + streamId)).Body!["status"]!;
            await Task.Delay(100);
        }

        Assert.Equal("disabled", status);
    }

    [Fact]
    public async Task Push_ToALoopbackTarget_IsRefusedByDefault()
    {
        Assert.False(Scim.Fast.Events.PushDelivery.IsPublic(IPAddress.Loopback));
        Assert.False(Scim.Fast.Events.PushDelivery.IsPublic(IPAddress.Parse("169.254.169.254")));
        Assert.False(Scim.Fast.Events.PushDelivery.IsPublic(IPAddress.Parse("10.1.2.3")));
        Assert.False(Scim.Fast.Events.PushDelivery.IsPublic(IPAddress.Parse("::ffff:192.168.1.1")));
        Assert.False(Scim.Fast.Events.PushDelivery.IsPublic(IPAddress.Parse("fd00::1")));
        Assert.True(Scim.Fast.Events.PushDelivery.IsPublic(IPAddress.Parse("8.8.8.8")));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Streams_AreManagedPerTenant_WithClearErrors()
    {
        var stream = await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:delete"]);
        string streamId = (string)stream["stream_id"]!;
        Assert.Equal(HttpStatusCode.OK, (await Client.Get(Base + "/ssf/streams?stream_id=" + streamId)).Status);
        Assert.Contains(streamId, (await Client.Get(Base + "/ssf/streams")).Body!.AsArray().Select(s => (string)s!["stream_id"]!));

        // Another tenant's token does not see it; no token is 401.
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        (await acme.Get("/tenants/acme/scim/v2/ssf/streams?stream_id=" + streamId)).AssertError(HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Anonymous.Get(Base + "/ssf/streams")).Status);

        // Bad requests are SCIM errors.
        (await Client.Send(HttpMethod.Post, Base + "/ssf/streams", """{"delivery":{"method":"smoke-signals"},"events_requested":[]}""", mediaType: "application/json")).AssertError(HttpStatusCode.BadRequest, "invalidValue");
        (await Client.Send(HttpMethod.Post, Base + "/ssf/streams", """{"delivery":{"method":"urn:ietf:rfc:8935"},"events_requested":[]}""", mediaType: "application/json")).AssertError(HttpStatusCode.BadRequest, "invalidValue");
        (await Client.Send(HttpMethod.Post, Base + "/ssf/streams", "[1,", mediaType: "application/json")).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");

        // A push receiver's authorization_header is an HTTP field value (RFC 9110 §5.5): no control
        // characters (a NUL was stored and sent to the receiver as is), nothing past ASCII.
        foreach (string header in new[] { "Bearer \u0000x", "Bearer x\r\nX-Evil: 1", "Bearer \u0007", "Bearer caf\u00e9", "Bearer \u007f" })
        {
            var push = new JsonObject
            {
                ["delivery"] = new JsonObject { ["method"] = "urn:ietf:rfc:8935", ["endpoint_url"] = "https://receiver.example.com/events", ["authorization_header"] = header },
                ["events_requested"] = new JsonArray("urn:ietf:params:scim:event:prov:create:notice"),
            };
            (await Client.Send(HttpMethod.Post, Base + "/ssf/streams", push.ToJsonString(), mediaType: "application/json")).AssertError(HttpStatusCode.BadRequest, "invalidValue");
        }
        (await Client.Send(HttpMethod.Post, Base + "/ssf/poll/" + streamId, """{"maxEvents":-1}""", mediaType: "application/json")).AssertError(HttpStatusCode.BadRequest, "invalidValue");

        // Update, status, verification, delete.
        var updated = await Client.Send(HttpMethod.Patch, Base + "/ssf/streams", new JsonObject { ["stream_id"] = streamId, ["events_requested"] = new JsonArray("urn:ietf:params:scim:event:prov:create:notice") }.ToJsonString(), mediaType: "application/json");
        Assert.Equal(HttpStatusCode.OK, updated.Status);
        Assert.Equal(["urn:ietf:params:scim:event:prov:create:notice"], updated.Body!["events_delivered"]!.AsArray().Select(e => (string)e!).ToArray());
        Assert.Equal(HttpStatusCode.NoContent, (await Client.Send(HttpMethod.Post, Base + "/ssf/verify", new JsonObject { ["stream_id"] = streamId, ["state"] = "abc" }.ToJsonString(), mediaType: "application/json")).Status);
        var (sets, _) = await PollAsync(Client, streamId);
        var verification = Claims(Assert.Single(sets).Set);
        Assert.Equal("https://schemas.openid.net/secevent/ssf/event-type/verification", EventUri(verification));
        Assert.Equal("abc", (string)Event(verification)["state"]!);

        var paused = await Client.Send(HttpMethod.Post, Base + "/ssf/status", new JsonObject { ["stream_id"] = streamId, ["status"] = "paused" }.ToJsonString(), mediaType: "application/json");
        Assert.Equal("paused", (string)paused.Body!["status"]!);
        (await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("held")))).Expect(HttpStatusCode.Created);
        Assert.Empty((await PollAsync(Client, streamId, ack: [sets[0].Jti])).Sets);
        await Client.Send(HttpMethod.Post, Base + "/ssf/status", new JsonObject { ["stream_id"] = streamId, ["status"] = "enabled" }.ToJsonString(), mediaType: "application/json");
        var resumed = await DrainAsync(Client, streamId);
        Assert.Contains(resumed, e => EventUri(e) == "urn:ietf:params:scim:event:prov:create:notice");
        Assert.Contains(resumed, e => EventUri(e) == "https://schemas.openid.net/secevent/ssf/event-type/stream-updated");

        Assert.Equal(HttpStatusCode.NoContent, (await Client.Delete(Base + "/ssf/streams?stream_id=" + streamId)).Status);
        (await Client.Get(Base + "/ssf/streams?stream_id=" + streamId)).AssertError(HttpStatusCode.NotFound);
    }

    // A new stream starts at the feed's head, so the embedded feed records nothing for a tenant
    // without streams (nobody could read it): a tenant's first stream numbers its first event 1
    // however much the tenant wrote before, and a stream created after the last one was deleted
    // continues after the events of the deleted one's time, nothing in between.
    [Fact]
    public async Task ATenantWithoutStreams_RecordsNoEvents_AndANewStreamGetsEveryLaterWrite()
    {
        const string AcmeBase = "/tenants/acme/scim/v2";
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        Assert.Empty((await acme.Get(AcmeBase + "/ssf/streams")).Body!.AsArray());
        for (int i = 0; i < 5; i++)
        {
            (await acme.Send(HttpMethod.Post, AcmeBase + "/Users", User(Unique("unwatched")))).Expect(HttpStatusCode.Created);
        }

        async Task<List<(long Sequence, string Subject)>> WriteAndPollAsync(string streamId, int users)
        {
            var ids = new List<string>();
            for (int i = 0; i < users; i++)
            {
                ids.Add((await acme.Send(HttpMethod.Post, AcmeBase + "/Users", User(Unique("watched")))).Expect(HttpStatusCode.Created).Id);
            }

            var received = new List<(long, string)>();
            for (int attempt = 0; attempt < 50 && received.Count < users; attempt++)
            {
                var (sets, _) = await PollAsync(acme, streamId, ack: null, basePath: AcmeBase);
                received = [.. sets.Select(s => (long.Parse(s.Jti.Split('.')[^2], System.Globalization.CultureInfo.InvariantCulture), Subject(Claims(s.Set))))];
                await Task.Delay(received.Count < users ? 100 : 0);
            }

            Assert.Equal(ids.Select(i => "/Users/" + i), received.Select(r => r.Item2));
            return received;
        }

        string first = (string)(await CreatePollStreamAsync(acme, ["urn:ietf:params:scim:event:prov:create:notice"], AcmeBase))["stream_id"]!;
        var firstSequences = (await WriteAndPollAsync(first, 3)).Select(r => r.Sequence).ToList();

        Assert.Equal(HttpStatusCode.NoContent, (await acme.Delete(AcmeBase + "/ssf/streams?stream_id=" + first)).Status);
        for (int i = 0; i < 4; i++)
        {
            (await acme.Send(HttpMethod.Post, AcmeBase + "/Users", User(Unique("unwatched-again")))).Expect(HttpStatusCode.Created);
        }

        string second = (string)(await CreatePollStreamAsync(acme, ["urn:ietf:params:scim:event:prov:create:notice"], AcmeBase))["stream_id"]!;
        var secondSequences = (await WriteAndPollAsync(second, 2)).Select(r => r.Sequence).ToList();
        if (FeedSkipsTenantsWithoutStreams)
        {
            Assert.Equal([1L, 2L, 3L], firstSequences);
            Assert.Equal([4L, 5L], secondSequences);
        }
        else
        {
            // A shared store's hosts learn of streams late: every tenant is recorded.
            Assert.True(firstSequences[0] > 5 && secondSequences[0] > firstSequences[^1] + 4, string.Join(",", firstSequences.Concat(secondSequences)));
        }
    }

    /// <summary>The embedded feed records only tenants with streams; a shared store's records every tenant.</summary>
    protected virtual bool FeedSkipsTenantsWithoutStreams => true;

    [Fact]
    public async Task AReaderPastRetention_IsToldToResync_NeverSilentlySkipped()
    {
        var stream = await CreatePollStreamAsync(Client, ["urn:ietf:params:scim:event:prov:create:notice"]);
        string streamId = (string)stream["stream_id"]!;
        long before = server.Store.Feed.Bounds(default).Next;
        (await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("old")))).Expect(HttpStatusCode.Created);

        // The old user's entry is in the feed (the embedded store projects it just after the
        // acknowledgement), then retention drops everything so far (as a sweep 14 days later would).
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (server.Store.Feed.Bounds(default).Next <= before && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(await server.Store.Feed.SweepAsync(long.MaxValue) > 0);
        string id = (await Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("new")))).Expect(HttpStatusCode.Created).Id;
        var events = await DrainAsync(Client, streamId);
        Assert.Equal("https://schemas.openid.net/secevent/ssf/event-type/stream-updated", EventUri(events[0]));
        Assert.StartsWith("resync", (string)Event(events[0])["reason"]!, StringComparison.Ordinal);
        Assert.Equal("/Users/" + id, Subject(Assert.Single(events, e => EventUri(e) != EventUri(events[0]))));
    }

    /// <summary>A push receiver (RFC 8935) on loopback: refuses the first <c>fail</c> SETs with 503 and Retry-After: 1.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _toFail;

        public sealed record Received(string Jti, string Set, string? Authorization, string? ContentType, string? WebhookId, string? WebhookTimestamp, string? WebhookSignature, DateTime At);

        private Receiver(WebApplication app, int fail)
        {
            _app = app;
            _toFail = fail;
        }

        public string Url { get; private set; } = "";

        public ConcurrentQueue<Received> AcceptedQueue { get; } = new();

        public List<Received> Accepted => [.. AcceptedQueue];

        public List<Received> Attempts { get; } = [];

        public int Refused;

        public volatile bool Gone;

        public static async Task<Receiver> StartAsync(int fail)
        {
            Receiver? receiver = null;
            var (app, url) = await LoopbackReceiver.StartAsync(async context =>
            {
                string set = await new StreamReader(context.Request.Body).ReadToEndAsync();
                var received = new Received((string)Claims(set)["jti"]!, set, context.Request.Headers.Authorization, context.Request.ContentType,
                    context.Request.Headers["webhook-id"], context.Request.Headers["webhook-timestamp"], context.Request.Headers["webhook-signature"], DateTime.UtcNow);
                lock (receiver!.Attempts)
                {
                    receiver.Attempts.Add(received);
                }

                if (receiver.Gone)
                {
                    context.Response.StatusCode = 410;
                    return;
                }

                if (Interlocked.Decrement(ref receiver._toFail) >= 0)
                {
                    Interlocked.Increment(ref receiver.Refused);
                    context.Response.Headers.RetryAfter = "1";
                    context.Response.StatusCode = 503;
                    return;
                }

                receiver.AcceptedQueue.Enqueue(received);
                context.Response.StatusCode = 202;
            });
            receiver = new Receiver(app, fail) { Url = url };
            return receiver;
        }

        public async Task WaitForAsync(int count, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (AcceptedQueue.Count < count && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            Assert.True(AcceptedQueue.Count >= count, $"{AcceptedQueue.Count} of {count} SETs pushed in {timeout.TotalSeconds} s");
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
