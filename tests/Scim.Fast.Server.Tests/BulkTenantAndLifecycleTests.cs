using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>RFC 7644 §3.7 /Bulk over HTTP.</summary>
public class BulkTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private const string BulkRequest = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

    private HttpClient Client => server.Client;

    private static JsonObject Bulk(JsonArray operations, int? failOnErrors = null)
    {
        var request = new JsonObject { ["schemas"] = new JsonArray(BulkRequest), ["Operations"] = operations };
        if (failOnErrors is { } fail)
        {
            request["failOnErrors"] = fail;
        }

        return request;
    }

    [Fact]
    public async Task BulkIds_ResolveInPathsAndMembers_EvenWhenDefinedLater()
    {
        string alice = Unique("alice"), bob = Unique("bob"), team = Unique("team");
        var operations = new JsonArray(
            // The group comes first but references users created after it: it waits for them.
            new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "team", ["data"] = new JsonObject
            {
                ["schemas"] = new JsonArray(GroupSchema),
                ["displayName"] = team,
                ["members"] = new JsonArray(new JsonObject { ["value"] = "bulkId:alice" }, new JsonObject { ["value"] = "bulkId:bob" }),
            } },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "alice", ["data"] = User(alice) },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "bob", ["data"] = User(bob) },
            new JsonObject { ["method"] = "PATCH", ["path"] = "/Users/bulkId:bob", ["data"] = Patch(new JsonObject { ["op"] = "add", ["path"] = "nickName", ["value"] = "Bobby" }) });

        var reply = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", Bulk(operations))).Expect(HttpStatusCode.OK);
        Assert.Equal("urn:ietf:params:scim:api:messages:2.0:BulkResponse", (string?)reply.Body!["schemas"]![0]);
        var results = reply.Body["Operations"]!.AsArray();
        Assert.Equal(4, results.Count);
        Assert.All(results, r => Assert.StartsWith("20", (string)r!["status"]!));
        var byBulkId = results.Where(r => r!["bulkId"] is not null).ToDictionary(r => (string)r!["bulkId"]!, r => ((string)r!["location"]!).Split('/')[^1]);
        Assert.Equal("W/\"1\"", (string?)results.First(r => (string?)r!["bulkId"] == "alice")!["version"]);

        var group = (await Client.Get("/scim/v2/Groups/" + byBulkId["team"])).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(new[] { byBulkId["alice"], byBulkId["bob"] }.Order(), group["members"]!.AsArray().Select(m => (string)m!["value"]!).Order());
        Assert.Equal("Bobby", (string?)(await Client.Get("/scim/v2/Users/" + byBulkId["bob"])).Body!["nickName"]);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task ARunOfCreates_GoesThroughTheBatchPath_WithPerItemOutcomes()
    {
        string dup = Unique("dup");
        var operations = new JsonArray(
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "1", ["data"] = User(dup) },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "2", ["data"] = User(dup.ToUpperInvariant()) },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "3", ["data"] = new JsonObject { ["schemas"] = new JsonArray(UserSchema) } },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "4", ["data"] = User(Unique("fine")) },
            new JsonObject { ["method"] = "POST", ["path"] = "/users/", ["bulkId"] = "5", ["data"] = User(Unique("fine")) });

        var results = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", Bulk(operations))).Expect(HttpStatusCode.OK).Body!["Operations"]!.AsArray();
        Assert.Equal(["201", "409", "400", "201", "201"], results.Select(r => (string)r!["status"]!));
        Assert.Equal("uniqueness", (string?)results[1]!["response"]!["scimType"]);
        Assert.Equal("invalidValue", (string?)results[2]!["response"]!["scimType"]);
        foreach (int i in new[] { 0, 3, 4 })
        {
            (await Client.Get(new Uri((string)results[i]!["location"]!).AbsolutePath)).Expect(HttpStatusCode.OK);
        }

        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task ARunOfGroupCreatesWithMembers_StoresEachGroupWhole()
    {
        // Group POSTs with members go through the batch path as combined records (group + member
        // delta); each group must read back whole, members included.
        var users = new List<string>();
        for (int i = 0; i < 2; i++)
        {
            users.Add((await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("member")))).Expect(HttpStatusCode.Created).Id);
        }

        var operations = new JsonArray();
        for (int i = 0; i < 3; i++)
        {
            operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "g" + i, ["data"] = Group(Unique("batch-team"), [.. users]) });
        }

        var results = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", Bulk(operations))).Expect(HttpStatusCode.OK).Body!["Operations"]!.AsArray();
        Assert.All(results, r => Assert.Equal("201", (string?)r!["status"]));
        foreach (var result in results)
        {
            var group = (await Client.Get((string)result!["location"]!)).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal(users.Order(), group["members"]!.AsArray().Select(m => (string)m!["value"]!).Order());
        }
    }

    [Fact]
    public async Task CircularReferences_Are409_AndTheRestStillRuns()
    {
        var operations = new JsonArray(
            new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "a", ["data"] = new JsonObject
            {
                ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = Unique("a"), ["members"] = new JsonArray(new JsonObject { ["value"] = "bulkId:b" }),
            } },
            new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "b", ["data"] = new JsonObject
            {
                ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = Unique("b"), ["members"] = new JsonArray(new JsonObject { ["value"] = "bulkId:a" }),
            } },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "c", ["data"] = User(Unique("c")) },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "d", ["data"] = User(Unique("d"), externalId: "bulkId:nowhere") });

        var results = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", Bulk(operations))).Expect(HttpStatusCode.OK).Body!["Operations"]!.AsArray();
        string Status(string bulkId) => (string)results.Single(r => (string?)r!["bulkId"] == bulkId)!["status"]!;
        Assert.Equal("409", Status("a"));
        Assert.Equal("409", Status("b"));
        Assert.Equal("201", Status("c"));
        Assert.Equal("400", Status("d"));
        Assert.Equal("urn:ietf:params:scim:api:messages:2.0:Error", (string?)results.Single(r => (string?)r!["bulkId"] == "a")!["response"]!["schemas"]![0]);
    }

    [Fact]
    public async Task FailOnErrors_StopsAfterThatManyErrors()
    {
        string taken = Unique("taken");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(taken))).Expect(HttpStatusCode.Created);
        var operations = new JsonArray(
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "1", ["data"] = User(taken) },
            new JsonObject { ["method"] = "DELETE", ["path"] = "/Users/missing" },
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "3", ["data"] = User(Unique("never")) });

        var results = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", Bulk(operations, failOnErrors: 2))).Expect(HttpStatusCode.OK).Body!["Operations"]!.AsArray();
        Assert.Equal(["409", "404"], results.Select(r => (string)r!["status"]!));
        Assert.Equal("uniqueness", (string?)results[0]!["response"]!["scimType"]);
    }

    [Fact]
    public async Task Limits_MaxOperationsAndPayload_Are413()
    {
        var many = new JsonArray();
        for (int i = 0; i < 1001; i++)
        {
            many.Add(new JsonObject { ["method"] = "DELETE", ["path"] = "/Users/x" + i });
        }

        (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", Bulk(many))).AssertError(HttpStatusCode.RequestEntityTooLarge, "tooMany");

        var big = new JsonArray(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "x", ["data"] = User(new string('b', 5 << 20)) });
        (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", Bulk(big))).AssertError(HttpStatusCode.RequestEntityTooLarge);

        (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", "{\"Operations\":[]}")).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");
        (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", Bulk(new JsonArray(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["data"] = User("nobulkid") }))))
            .AssertError(HttpStatusCode.BadRequest, "invalidSyntax");

        // Bytes after the request's JSON make it invalid JSON: nothing of it runs.
        string trailingName = Unique("trailing");
        var trailing = Bulk(new JsonArray(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "t", ["data"] = User(trailingName) })).ToJsonString() + " x";
        (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", trailing)).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");
        var none = (await Client.Get($"/scim/v2/Users?filter=userName%20eq%20%22{trailingName}%22")).Expect(HttpStatusCode.OK);
        Assert.Equal(0, (int)none.Body!["totalResults"]!);

        // Member names are case-insensitive (RFC 7643 §2.1) and so is the method.
        var spelled = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[{\"METHOD\":\"post\",\"Path\":\"/Users\",\"BULKID\":\"s\",\"Data\":"
            + User(Unique("spelling")).ToJsonString() + "}]}";
        var created = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", spelled)).Expect(HttpStatusCode.OK);
        Assert.Equal("201", (string?)created.Body!["Operations"]![0]!["status"]);
        Assert.Equal("POST", (string?)created.Body!["Operations"]![0]!["method"]);
        var unknownPath = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", Bulk(new JsonArray(new JsonObject { ["method"] = "DELETE", ["path"] = "/Nope/1" })))).Expect(HttpStatusCode.OK);
        Assert.Equal("400", (string?)unknownPath.Body!["Operations"]![0]!["status"]);
    }
}

/// <summary>Tenants are isolated: a token acts only for its own tenant.</summary>
public class TenantIsolationTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    [Fact]
    public async Task TokensAreBoundToTheirTenant()
    {
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        using var globex = server.CreateClient(ScimServerFixture.GlobexToken);
        string name = Unique("shared-name");

        var inAcme = (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", User(name))).Expect(HttpStatusCode.Created);
        Assert.Contains("/tenants/acme/scim/v2/Users/", inAcme.Headers.Location!.ToString());
        // The same userName in another tenant is no conflict.
        var inGlobex = (await globex.Send(HttpMethod.Post, "/tenants/globex/scim/v2/Users", User(name))).Expect(HttpStatusCode.Created);
        var inDefault = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", User(name))).Expect(HttpStatusCode.Created);

        // Another tenant's token on acme's path: 401, whatever the resource.
        (await globex.Get("/tenants/acme/scim/v2/Users/" + inAcme.Id)).AssertError(HttpStatusCode.Unauthorized);
        (await server.Client.Get("/tenants/acme/scim/v2/Users/" + inAcme.Id)).AssertError(HttpStatusCode.Unauthorized);
        (await acme.Get("/scim/v2/Users/" + inDefault.Id)).AssertError(HttpStatusCode.Unauthorized);
        (await acme.Get("/tenants/nosuch/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);

        // acme's id under globex's path with globex's token: not there.
        (await globex.Get("/tenants/globex/scim/v2/Users/" + inAcme.Id)).AssertError(HttpStatusCode.NotFound);
        (await globex.Delete("/tenants/globex/scim/v2/Users/" + inAcme.Id)).AssertError(HttpStatusCode.NotFound);
        var acmeList = (await acme.Get("/tenants/acme/scim/v2/Users")).Body!;
        Assert.Equal([inAcme.Id], Ids(acmeList));
        var globexByName = (await globex.Get($"/tenants/globex/scim/v2/Users?filter=userName eq \"{name}\"")).Body!;
        Assert.Equal([inGlobex.Id], Ids(globexByName));

        // A wrong token, a malformed header.
        using var wrong = server.CreateClient("not-a-token-of-anyone-at-all");
        (await wrong.Get("/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
        (await server.Anonymous.Get("/scim/v2/Users", r => r.Headers.TryAddWithoutValidation("Authorization", "Basic " + ScimServerFixture.Token)))
            .AssertError(HttpStatusCode.Unauthorized);
        Assert.Empty(server.Store.Verify());
    }
}

/// <summary>A server with a tight per-token rate limit.</summary>
public sealed class RateLimitedFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments => ["--Scim:Limits:RequestsPerSecondPerToken=1", "--Scim:Limits:RequestBurstPerToken=3"];
}

public sealed class RateLimitTests(RateLimitedFixture server) : IClassFixture<RateLimitedFixture>
{
    [Fact]
    public async Task OverTheLimit_Is429WithRetryAfter_PerToken_AfterTheBurst_UntilTheBucketRefills()
    {
        // A burst of 3 at 1 a second: the first 3 pass, then 429 (a refill tick between two of
        // these requests may let one more through, never more in under a second).
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var replies = new List<ScimHttp.Reply>();
        for (int i = 0; i < 6; i++)
        {
            replies.Add(await server.Client.Get("/scim/v2/Users?count=0"));
        }

        int passed = replies.TakeWhile(r => r.Status == HttpStatusCode.OK).Count();
        Assert.InRange(passed, 3, 3 + (int)Math.Ceiling(stopwatch.Elapsed.TotalSeconds));
        Assert.All(replies.Skip(passed), r => r.AssertError(HttpStatusCode.TooManyRequests));
        var limited = replies[passed];
        Assert.True(limited.Headers.RetryAfter!.Delta >= TimeSpan.FromSeconds(1));

        // After Retry-After the bucket has refilled by its rate (one token a second: one per tick
        // since the 429), not to the burst.
        var sinceLimited = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(limited.Headers.RetryAfter.Delta!.Value + TimeSpan.FromMilliseconds(100));
        var refilled = new List<ScimHttp.Reply>();
        for (int i = 0; i < 4; i++)
        {
            refilled.Add(await server.Client.Get("/scim/v2/Users?count=0"));
        }

        int ticks = (int)Math.Ceiling(sinceLimited.Elapsed.TotalSeconds);
        Assert.InRange(refilled.TakeWhile(r => r.Status == HttpStatusCode.OK).Count(), 1, Math.Min(3, ticks));
        Assert.Contains(refilled, r => r.Status == HttpStatusCode.TooManyRequests);

        // Another token has its own bucket.
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        (await acme.Get("/tenants/acme/scim/v2/Users?count=0")).Expect(HttpStatusCode.OK);
    }
}

/// <summary>A server that tolerates few failed authentications per address.</summary>
public sealed class FailedAuthenticationFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments => ["--Scim:Limits:FailedAuthenticationsPerMinutePerAddress=5"];
}

public sealed class FailedAuthenticationTests(FailedAuthenticationFixture server) : IClassFixture<FailedAuthenticationFixture>
{
    [Fact]
    public async Task GuessingTokens_IsCutOffPerAddress()
    {
        // The default per-token limit is on: ordinary traffic passes it.
        (await server.Client.Get("/scim/v2/Users?count=0")).Expect(HttpStatusCode.OK);

        using var guesser = server.CreateClient("guessed-token-0123456789");
        for (int i = 0; i < 5; i++)
        {
            (await guesser.Get("/scim/v2/Users?count=0")).AssertError(HttpStatusCode.Unauthorized);
        }

        // The sixth guess is not even evaluated, and the address waits, valid token or not.
        var limited = await guesser.Get("/scim/v2/Users?count=0");
        limited.AssertError(HttpStatusCode.TooManyRequests);
        Assert.NotNull(limited.Headers.RetryAfter);
        (await server.Client.Get("/scim/v2/Users?count=0")).AssertError(HttpStatusCode.TooManyRequests);

        // Discovery needs no token and stays open.
        (await server.Anonymous.Get("/scim/v2/ServiceProviderConfig")).Expect(HttpStatusCode.OK);
    }
}

/// <summary>Few failed authentications per address, and an admin token (the admin API and /metrics are on).</summary>
public sealed class FailedAdminAuthenticationFixture : ScimServerFixture
{
    public const string AdminToken = "admin-token-0123456789abcdef";

    protected override IEnumerable<string> ExtraArguments =>
        ["--Scim:Limits:FailedAuthenticationsPerMinutePerAddress=5", "--Scim:AdminTokens:0=" + AdminToken];
}

public sealed class FailedAdminAuthenticationTests(FailedAdminAuthenticationFixture server) : IClassFixture<FailedAdminAuthenticationFixture>
{
    // Admin tokens open every tenant's data (export, drop): guessing them on /admin or /metrics
    // draws on the address's one budget, as on the SCIM paths.
    [Fact]
    public async Task GuessingAdminTokens_OnTheAdminApiAndMetrics_IsCutOffPerAddress_ForEveryPath()
    {
        using var admin = server.CreateClient(FailedAdminAuthenticationFixture.AdminToken);
        // Their successes are plain JSON and Prometheus text, not SCIM.
        using (var tenants = await admin.GetAsync("/admin/tenants"))
        {
            Assert.Equal(HttpStatusCode.OK, tenants.StatusCode);
        }

        using (var metrics = await admin.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        }

        using var guesser = server.CreateClient("guessed-admin-token-0123456789");
        long failedBefore = await AuthFailedAsync(admin);
        for (int i = 0; i < 3; i++)
        {
            (await guesser.Get("/metrics")).AssertError(HttpStatusCode.Unauthorized);
        }

        // Counted where operators look for guessing, too (three failures, two left in the budget;
        // past the exporter's scrape cache, 300 ms, which still holds the scrape before).
        await Task.Delay(400);
        long failedAfter = await AuthFailedAsync(admin);
        Assert.True(failedAfter >= failedBefore + 3, $"failed authentications on /metrics are not in scim_server_rejected_total{{scim_reason=\"auth_failed\"}}: {failedBefore} before, {failedAfter} after");

        for (int i = 0; i < 2; i++)
        {
            (await guesser.Get("/admin/tenants")).AssertError(HttpStatusCode.Unauthorized);
        }

        // Five failures: the address now waits on every path, with the right tokens too.
        var limited = await admin.Get("/admin/tenants");
        limited.AssertError(HttpStatusCode.TooManyRequests);
        Assert.NotNull(limited.Headers.RetryAfter);
        (await admin.Get("/metrics")).AssertError(HttpStatusCode.TooManyRequests);
        (await server.Client.Get("/scim/v2/Users?count=0")).AssertError(HttpStatusCode.TooManyRequests);

        // And it keeps waiting until a whole failure's worth of budget is back (5 a minute: 12 s),
        // not only until the bucket holds a fraction of one (it let everyone in again ~100 ms after
        // the budget ran out, and guessing went on unthrottled from then).
        await Task.Delay(1000);
        for (int i = 0; i < 5; i++)
        {
            (await guesser.Get("/admin/tenants")).AssertError(HttpStatusCode.TooManyRequests);
            (await server.Client.Get("/scim/v2/Users?count=0")).AssertError(HttpStatusCode.TooManyRequests);
        }
    }

    // scim_server_rejected_total{scim_reason="auth_failed"} as /metrics shows it (0 before the first).
    private static async Task<long> AuthFailedAsync(HttpClient admin) =>
        MetricsTests.Value(await admin.GetStringAsync("/metrics"), "scim_server_rejected_total", "scim_reason=\"auth_failed\"");
}

/// <summary>A graceful restart keeps every acknowledged write, indexes included.</summary>
public sealed class RestartTests : IAsyncLifetime
{
    private readonly ScimServerFixture _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task Restart_KeepsUsersGroupsMembershipsAndTenants()
    {
        var user = (await _server.Client.Send(HttpMethod.Post, "/scim/v2/Users", User("restart@example.com", externalId: "r-1"))).Expect(HttpStatusCode.Created);
        var group = (await _server.Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group("Restarters", user.Id))).Expect(HttpStatusCode.Created);
        using (var acme = _server.CreateClient(ScimServerFixture.AcmeToken))
        {
            (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", User("acme-only@example.com"))).Expect(HttpStatusCode.Created);
        }

        await _server.RestartAsync();

        var read = (await _server.Client.Get("/scim/v2/Users/" + user.Id)).Expect(HttpStatusCode.OK);
        Assert.Equal(user.ETag, read.ETag);
        Assert.Equal(group.Id, (string?)read.Body!["groups"]![0]!["value"]);
        var byName = (await _server.Client.Get("/scim/v2/Users?filter=userName+eq+%22RESTART%40example.com%22")).Body!;
        Assert.Equal([user.Id], Ids(byName));
        var byExternal = (await _server.Client.Get("/scim/v2/Users?filter=externalId+eq+%22r-1%22")).Body!;
        Assert.Equal([user.Id], Ids(byExternal));
        (await _server.Client.Send(HttpMethod.Post, "/scim/v2/Users", User("Restart@Example.com"))).AssertError(HttpStatusCode.Conflict, "uniqueness");
        using (var acme = _server.CreateClient(ScimServerFixture.AcmeToken))
        {
            var acmeUsers = (await acme.Get("/tenants/acme/scim/v2/Users")).Body!;
            Assert.Equal(1, (int)acmeUsers["totalResults"]!);
        }

        var defaultUsers = (await _server.Client.Get("/scim/v2/Users")).Body!;
        Assert.Equal(1, (int)defaultUsers["totalResults"]!);
        Assert.Empty(_server.Store.Verify());
    }
}

/// <summary>A server that cuts slow uploads quickly.</summary>
public sealed class SlowClientFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments => ["--Scim:Limits:BodyGraceSeconds=2", "--Scim:Limits:MinBodyBytesPerSecond=100"];
}

public sealed class SlowClientTests(SlowClientFixture server) : IClassFixture<SlowClientFixture>
{
    [Fact]
    public async Task ATricklingBody_IsCutOff_AndOtherClientsAreServed()
    {
        using var socket = new System.Net.Sockets.TcpClient();
        await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var stream = socket.GetStream();
        string head = "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ScimServerFixture.Token
            + "\r\nContent-Type: application/scim+json\r\nContent-Length: 100000\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));

        // One byte every 200 ms: far below 100 bytes/s.
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var response = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        var reading = Task.Run(async () =>
        {
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0)
            {
                response.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, n));
            }
        });
        try
        {
            while (!reading.IsCompleted && stopwatch.Elapsed < TimeSpan.FromSeconds(20))
            {
                await stream.WriteAsync("{"u8.ToArray());
                await Task.Delay(200);
                // Meanwhile the server keeps serving others.
                (await server.Client.Get("/scim/v2/Users?count=0")).Expect(HttpStatusCode.OK);
            }
        }
        catch (IOException)
        {
            // The server closed the connection: that is the cut-off.
        }

        await reading.WaitAsync(TimeSpan.FromSeconds(20)).ContinueWith(_ => { });
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(15), "the slow upload was not cut off");
        // Kestrel answers 408 (Request Timeout) where it still can, then closes.
        Assert.True(response.Length == 0 || response.ToString().StartsWith("HTTP/1.1 408", StringComparison.Ordinal), response.ToString());
    }
}

/// <summary>Bearer tokens rotate without a restart: the configuration file is watched.</summary>
public sealed class TokenRotationTests : IAsyncLifetime
{
    private const string OldToken = "rotation-old-token-0123456789";
    private const string NewToken = "rotation-new-token-0123456789";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "scim-fast-rotation-" + Guid.NewGuid().ToString("N"));
    private Microsoft.AspNetCore.Builder.WebApplication? _app;
    private Uri _address = null!;

    private string TokensFile => Path.Combine(_directory, "tokens.json");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        WriteTokens(OldToken);
        _app = ScimServer.Create(
            ["--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Scim:DataDirectory=" + Path.Combine(_directory, "data")],
            builder => Microsoft.Extensions.Configuration.JsonConfigurationExtensions.AddJsonFile(builder.Configuration, TokensFile, optional: false, reloadOnChange: true));
        await _app.StartAsync();
        var server = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>(_app.Services);
        _address = new Uri(server.Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.Single());
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private void WriteTokens(string token) =>
        File.WriteAllText(TokensFile, "{\"Scim\":{\"BearerTokens\":[\"sha256:" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token))) + "\"]}}");

    private async Task<HttpStatusCode> StatusWith(string token)
    {
        using var client = new HttpClient { BaseAddress = _address };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var response = await client.GetAsync("/scim/v2/Users?count=0");
        return response.StatusCode;
    }

    [Fact]
    public async Task ChangingTheConfiguredTokens_TakesEffectWithoutARestart()
    {
        Assert.Equal(HttpStatusCode.OK, await StatusWith(OldToken));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWith(NewToken));

        WriteTokens(NewToken);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await StatusWith(NewToken) != HttpStatusCode.OK && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Equal(HttpStatusCode.OK, await StatusWith(NewToken));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWith(OldToken));
    }
}

/// <summary>
/// The table itself: a thread remembers the last valid token's hash (BearerTokens.RecallHash), which
/// must never answer for another token of the same length, nor outlive a reload that removed it.
/// </summary>
public sealed class BearerTokenTableTests
{
    [Fact]
    public void TheRememberedHash_AnswersOnlyForTheSameToken_AndNotAfterAReloadRemovedIt()
    {
        const string Acme = "table-token-acme-0123456789";
        const string Globex = "table-token-glbx-0123456789";
        string directory = Path.Combine(Path.GetTempPath(), "scim-fast-tokens-" + Guid.NewGuid().ToString("N"));
        var tokens = new BearerTokens();
        var options = new ScimServerOptions();
        options.Tenants["acme"] = new TenantOptions { BearerTokens = [Acme] };
        options.Tenants["globex"] = new TenantOptions { BearerTokens = [Globex] };
        tokens.Load(options, directory);

        for (int i = 0; i < 3; i++)
        {
            Assert.True(tokens.TryAuthenticate(Acme, out string? tenant, out int acmeSlot));
            Assert.Equal("acme", tenant);
            Assert.True(tokens.TryAuthenticate(Acme, out tenant, out int again));
            Assert.Equal(("acme", acmeSlot), (tenant, again));
            Assert.True(tokens.TryAuthenticate(Globex, out tenant, out int globexSlot));
            Assert.Equal("globex", tenant);
            Assert.NotEqual(acmeSlot, globexSlot);
            // Same length, one character off, right after the valid one: unknown.
            Assert.False(tokens.TryAuthenticate(Globex[..^1] + "8", out _, out _));
            Assert.False(tokens.TryAuthenticate(Globex + "9", out _, out _));
        }

        options.Tenants.Remove("globex");
        tokens.Load(options, directory);
        Assert.False(tokens.TryAuthenticate(Globex, out _, out _));
        Assert.True(tokens.TryAuthenticate(Acme, out string? still, out _));
        Assert.Equal("acme", still);
    }
}

/// <summary>A server with a tenant administration token.</summary>
public sealed class AdminFixture : ScimServerFixture
{
    public const string AdminToken = "admin-token-0123456789abcdef";

    protected override IEnumerable<string> ExtraArguments => ["--Scim:AdminTokens:0=" + AdminToken];
}

/// <summary>Tenants as a unit: listed with counts, exported as NDJSON, dropped.</summary>
public sealed class TenantAdminTests(AdminFixture server) : IClassFixture<AdminFixture>
{
    [Fact]
    public async Task ATenant_IsListedExportedAndDropped_WithoutTouchingOthers()
    {
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        using var globex = server.CreateClient(ScimServerFixture.GlobexToken);
        using var admin = server.CreateClient(AdminFixture.AdminToken);
        var a1 = (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", User("a1@example.com"))).Expect(HttpStatusCode.Created);
        var a2 = (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", User("a2@example.com"))).Expect(HttpStatusCode.Created);
        (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Groups", Group("acme-team", a1.Id, a2.Id))).Expect(HttpStatusCode.Created);
        var g1 = (await globex.Send(HttpMethod.Post, "/tenants/globex/scim/v2/Users", User("g1@example.com"))).Expect(HttpStatusCode.Created);

        // Only administration tokens reach the API; they never reach tenant data.
        (await acme.Get("/admin/tenants")).AssertError(HttpStatusCode.Unauthorized);
        (await admin.Get("/tenants/acme/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
        (await admin.Get("/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);

        using (var list = await admin.GetAsync("/admin/tenants"))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            var tenants = JsonNode.Parse(await list.Content.ReadAsStringAsync())!["tenants"]!.AsArray();
            var acmeEntry = tenants.Single(t => (string?)t!["name"] == "acme")!;
            Assert.Equal(2, (int)acmeEntry["users"]!);
            Assert.Equal(1, (int)acmeEntry["groups"]!);
            Assert.Contains(tenants, t => (string?)t!["name"] == "default");
        }

        using (var export = await admin.GetAsync("/admin/tenants/acme/export"))
        {
            Assert.Equal(HttpStatusCode.OK, export.StatusCode);
            var lines = (await export.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
            Assert.Equal(3, lines.Count);
            Assert.Equal(new[] { "a1@example.com", "a2@example.com" }.Order(), lines.Where(l => l["userName"] is not null).Select(l => (string)l["userName"]!).Order());
            var team = lines.Single(l => (string?)l["displayName"] == "acme-team");
            Assert.Equal(new[] { a1.Id, a2.Id }.Order(), team["members"]!.AsArray().Select(m => (string)m!["value"]!).Order());

            // Locations are the tenant's own, as its SCIM requests see them.
            Assert.EndsWith("/tenants/acme/scim/v2/Groups/" + (string)team["id"]!, (string)team["meta"]!["location"]!);
        }

        // A drop is a background job: 202 with its progress, followed at the Location.
        string status;
        using (var drop = await admin.DeleteAsync("/admin/tenants/acme"))
        {
            Assert.Equal(HttpStatusCode.Accepted, drop.StatusCode);
            Assert.Equal("/admin/tenants/acme/drop", drop.Headers.Location!.ToString());
            status = drop.Headers.Location.ToString();
        }

        JsonNode result;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            using var progress = await admin.GetAsync(status);
            Assert.Equal(HttpStatusCode.OK, progress.StatusCode);
            result = JsonNode.Parse(await progress.Content.ReadAsStringAsync())!;
            if ((string?)result["state"] != "running")
            {
                break;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Equal("completed", (string?)result["state"]);
        Assert.Equal(2, (int)result["deletedUsers"]!);
        Assert.Equal(1, (int)result["deletedGroups"]!);
        Assert.Equal(0, (int)result["remainingUsers"]!);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/tenants/globex/drop")).StatusCode);

        Assert.Equal(0, (int)(await acme.Get("/tenants/acme/scim/v2/Users")).Body!["totalResults"]!);
        Assert.Equal(0, (int)(await acme.Get("/tenants/acme/scim/v2/Groups")).Body!["totalResults"]!);
        (await acme.Get("/tenants/acme/scim/v2/Users/" + a1.Id)).AssertError(HttpStatusCode.NotFound);
        (await globex.Get("/tenants/globex/scim/v2/Users/" + g1.Id)).Expect(HttpStatusCode.OK);
        using (var dropDefault = await admin.DeleteAsync("/admin/tenants/default"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, dropDefault.StatusCode);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/tenants/nosuch/export")).StatusCode);
        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task WithoutAdminTokens_TheApiDoesNotExist()
    {
        await using var plain = new ScimServerFixture();
        await plain.InitializeAsync();
        using var response = await plain.Client.GetAsync("/admin/tenants");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}

/// <summary>A server with a one-second request deadline (and no minimum upload rate to pre-empt it).</summary>
public sealed class RequestTimeoutFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments =>
        ["--Scim:Limits:RequestTimeoutSeconds=1", "--Scim:Limits:MinBodyBytesPerSecond=1", "--Scim:Limits:BodyGraceSeconds=30", "--Scim:AdminTokens:0=" + AdminFixture.AdminToken];
}

public sealed class RequestTimeoutTests(RequestTimeoutFixture server) : IClassFixture<RequestTimeoutFixture>
{
    // Users named {prefix}-{batch}-{i} with a long givenName, created through /Bulk, one request a batch.
    private async Task CreateUsersAsync(string prefix, int batches, int perBatch, int givenNameLength)
    {
        for (int batch = 0; batch < batches; batch++)
        {
            var operations = new JsonArray();
            for (int i = 0; i < perBatch; i++)
            {
                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + i, ["data"] = User($"{prefix}-{batch}-{i}", givenName: new string('g', givenNameLength)) });
            }

            var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
            (await server.Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK);
        }
    }

    [Fact]
    public async Task ARequestPastTheDeadline_Is503WithAScimError()
    {
        using var socket = new System.Net.Sockets.TcpClient();
        await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var stream = socket.GetStream();
        string head = "POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ScimServerFixture.Token
            + "\r\nContent-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(head));
        var buffer = new byte[8192];
        var reading = stream.ReadAsync(buffer).AsTask();
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            // A byte every 100 ms: the body never completes within the one-second deadline.
            while (!reading.IsCompleted && stopwatch.Elapsed < TimeSpan.FromSeconds(15))
            {
                await stream.WriteAsync("{"u8.ToArray());
                await Task.Delay(100);
            }
        }
        catch (IOException)
        {
        }

        int read = await reading.WaitAsync(TimeSpan.FromSeconds(15));
        string response = System.Text.Encoding.ASCII.GetString(buffer, 0, read);
        Assert.StartsWith("HTTP/1.1 503", response, StringComparison.Ordinal);
        Assert.Contains("urn:ietf:params:scim:api:messages:2.0:Error", response, StringComparison.Ordinal);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10));

        // Requests within the deadline are unaffected.
        (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("ontime")))).Expect(HttpStatusCode.Created);
    }

    [Theory]
    [InlineData("list")]
    [InlineData("root search")]
    public async Task AListPageToAReaderThatStalls_IsCutAtTheDeadline_NotHeldOpen(string request)
    {
        // 1,000 users of 8 KB: one list page of ~8 MB, far more than Kestrel's 64 KB response buffer
        // and the socket buffers of a reader with a 4 KB window, so the page's flush waits on the
        // reader. Created in /Bulk requests small enough to finish well within the deadline.
        var prefix = Unique("stall");
        await CreateUsersAsync(prefix, batches: 8, perBatch: 125, givenNameLength: 8_000);

        // The reader takes the first bytes, then stops for four seconds. An identity provider's
        // request is bounded by the deadline (one second here) however slowly it reads: the server
        // must cut the response then (ScimResponses.FlushAsync aborts the connection), not keep
        // 8 MB and a connection for as long as the reader likes.
        using var socket = new System.Net.Sockets.TcpClient { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var stream = socket.GetStream();
        // A collection's list (ResourceEndpoint.Lists) or a root /.search (RootSearch): each flushes its page.
        string head = $"Host: x\r\nAuthorization: Bearer {ScimServerFixture.Token}\r\nConnection: close\r\n";
        if (request == "list")
        {
            string filter = Uri.EscapeDataString($"userName sw \"{prefix}-\"");
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"GET /scim/v2/Users?filter={filter}&count=1000 HTTP/1.1\r\n{head}\r\n"));
        }
        else
        {
            var search = new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:SearchRequest"),
                ["filter"] = $"userName sw \"{prefix}-\"",
                ["count"] = 1000,
            };
            byte[] json = System.Text.Encoding.UTF8.GetBytes(search.ToJsonString());
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"POST /scim/v2/.search HTTP/1.1\r\n{head}Content-Type: application/scim+json\r\nContent-Length: {json.Length}\r\n\r\n"));
            await stream.WriteAsync(json);
        }

        var received = new MemoryStream();
        var buffer = new byte[4096];
        received.Write(buffer, 0, await stream.ReadAsync(buffer));
        await Task.Delay(TimeSpan.FromSeconds(4));
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        bool reset = false;
        int read;
        try
        {
            while ((read = await stream.ReadAsync(buffer, reading.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            reset = true;
        }

        string text = System.Text.Encoding.UTF8.GetString(received.ToArray());
        Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
        Assert.False(text.EndsWith("0\r\n\r\n", StringComparison.Ordinal), "the whole page arrived: the server waited on the reader past the deadline");
        Assert.True(reset || received.Length < 8_000_000, $"{received.Length} bytes arrived, reset: {reset}");

        // The connection was the request's only casualty.
        (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("after-stall")))).Expect(HttpStatusCode.Created);
    }

    [Fact]
    public async Task AnExportOutlastingTheDeadline_IsNotCut()
    {
        // 4,000 users of 3 KB (12 MB of export, more than the kernel buffers a socket), created in
        // /Bulk requests well within the deadline.
        var prefix = Unique("export");
        await CreateUsersAsync(prefix, batches: 8, perBatch: 500, givenNameLength: 3_000);

        // A reader that stops for three seconds after the first bytes: the server's writes block on
        // a small receive window, so the export lasts past the one-second deadline. An operator's
        // export is not an identity provider's request: it must arrive whole.
        using var socket = new System.Net.Sockets.TcpClient { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(
            "GET /admin/tenants/default/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + AdminFixture.AdminToken + "\r\nConnection: close\r\n\r\n"));
        var received = new MemoryStream();
        var buffer = new byte[4096];
        received.Write(buffer, 0, await stream.ReadAsync(buffer));
        await Task.Delay(TimeSpan.FromSeconds(3));
        using var reading = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        int read;
        try
        {
            while ((read = await stream.ReadAsync(buffer, reading.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // A reset: the export was cut (the assertions below say so).
        }

        string text = System.Text.Encoding.UTF8.GetString(received.ToArray());
        Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
        Assert.EndsWith("0\r\n\r\n", text, StringComparison.Ordinal);
        for (int batch = 0; batch < 8; batch++)
        {
            Assert.Contains($"\"{prefix}-{batch}-499\"", text, StringComparison.Ordinal);
        }
    }
}

/// <summary>A server under a base path of its own, with relaxed durability.</summary>
public sealed class BasePathFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments => ["--Scim:BasePath=/api/identity/scim", "--Scim:Durability=Relaxed"];
}

public sealed class BasePathAndRelaxedDurabilityTests(BasePathFixture server) : IClassFixture<BasePathFixture>
{
    [Fact]
    public async Task EveryEndpointAndLink_UsesTheConfiguredBasePath()
    {
        var created = (await server.Client.Send(HttpMethod.Post, "/api/identity/scim/Users", User(Unique("based")))).Expect(HttpStatusCode.Created);
        Assert.Equal(new Uri(server.BaseAddress, "/api/identity/scim/Users/" + created.Id), created.Headers.Location);
        Assert.Equal(created.Headers.Location!.ToString(), (string?)created.Body!["meta"]!["location"]);
        (await server.Client.Get("/api/identity/scim/Users/" + created.Id)).Expect(HttpStatusCode.OK);
        var config = (await server.Client.Get("/api/identity/scim/ServiceProviderConfig")).Expect(HttpStatusCode.OK).Body!;
        Assert.EndsWith("/api/identity/scim/ServiceProviderConfig", (string)config["meta"]!["location"]!, StringComparison.Ordinal);
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        (await acme.Get("/tenants/acme/api/identity/scim/Users?count=0")).Expect(HttpStatusCode.OK);

        // The default path is not served.
        (await server.Client.Get("/scim/v2/Users")).AssertError(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task RelaxedDurability_KeepsWritesAcrossAGracefulRestart()
    {
        // Relaxed acknowledges before the disk flush (README, "Durability"): a crash may lose the
        // last writes, a graceful stop (which flushes and checkpoints) must not.
        var ids = new List<string>();
        for (int i = 0; i < 20; i++)
        {
            ids.Add((await server.Client.Send(HttpMethod.Post, "/api/identity/scim/Users", User(Unique("relaxed")))).Expect(HttpStatusCode.Created).Id);
        }

        await server.RestartAsync();
        foreach (var id in ids)
        {
            (await server.Client.Get("/api/identity/scim/Users/" + id)).Expect(HttpStatusCode.OK);
        }

        Assert.Empty(server.Store.Verify());
    }
}
