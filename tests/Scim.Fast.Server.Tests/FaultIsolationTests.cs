using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// No client can stop the server for the others: clients that hang up in the middle of writes leave
/// the store serving every tenant, with nothing half-applied.
/// </summary>
public sealed class FaultIsolationTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private HttpClient Client => server.Client;

    private static JsonObject BulkOfUsers(int count, string prefix, string externalId)
    {
        var operations = new JsonArray();
        for (int i = 0; i < count; i++)
        {
            operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "b" + i, ["data"] = User($"{prefix}-{i}", externalId: externalId) });
        }

        return new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
    }

    // Sends a whole request on a raw socket, waits, then resets the connection (RST, as a client
    // process that dies or times out does) without reading the answer.
    private async Task SendAndResetAsync(string path, string body, TimeSpan after)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        byte[] content = System.Text.Encoding.UTF8.GetBytes(body);
        string head = $"POST {path} HTTP/1.1\r\nHost: {server.BaseAddress.Authority}\r\nAuthorization: Bearer {ScimServerFixture.Token}\r\n"
            + $"Content-Type: application/scim+json\r\nContent-Length: {content.Length}\r\n\r\n";
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(head));
        await socket.SendAsync(content);
        await Task.Delay(after);
        socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        socket.Close();
    }

    [Fact]
    public async Task ClientsHangingUpDuringBulkCreates_NeverStopTheStore()
    {
        // The reported fault: /Bulk of many POSTs, the client closes its connection a few
        // milliseconds later, and the store took the cancellation for a failed write and stopped:
        // every later write of every tenant was a 500 until a restart.
        // How long one such request takes here; the hang-ups are spread over that time, so some
        // land while the body is read, some while the batch is prepared, some after it is logged.
        var timer = System.Diagnostics.Stopwatch.StartNew();
        (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", BulkOfUsers(500, Unique("warm"), Unique("warm")))).Expect(HttpStatusCode.OK);
        var full = timer.Elapsed;

        const int Rounds = 24;
        var rounds = new List<string>();
        for (int round = 0; round < Rounds; round++)
        {
            string externalId = Unique("hangup");
            rounds.Add(externalId);
            string body = BulkOfUsers(500, Unique("h" + round), externalId).ToJsonString();
            await SendAndResetAsync("/scim/v2/Bulk", body, full * (round + 1) / (Rounds + 1));

            // Every tenant can still write at once.
            (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("after")))).Expect(HttpStatusCode.Created);
        }

        // Each batch of one round was logged whole or not at all (a single run of creates is one
        // batch): 0 or 500 users per round, never a part. Wait for batches still running first.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (var externalId in rounds)
        {
            int found;
            do
            {
                found = (int)(await Client.Get($"/scim/v2/Users?filter=externalId eq \"{externalId}\"&count=0")).Expect(HttpStatusCode.OK).Body!["totalResults"]!;
                if (found is 0 or 500)
                {
                    break;
                }

                await Task.Delay(100);
            }
            while (DateTime.UtcNow < deadline);

            Assert.True(found is 0 or 500, $"round {externalId}: {found} users, a batch half-applied");
        }

        Assert.Empty(server.Store.Verify());
    }

    [Fact]
    public async Task BulkReferences_ResolveInOnePass_AndAreCapped()
    {
        // 9,000 references to one bulkId in one PATCH: resolved in one pass over the data (it was
        // one pass per reference: seconds of CPU for a few hundred KB, uncancellable).
        var members = new JsonArray();
        for (int i = 0; i < 9_000; i++)
        {
            members.Add(new JsonObject { ["value"] = "bulkId:u" });
        }

        var operations = new JsonArray
        {
            new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u", ["data"] = User(Unique("ref")) },
            new JsonObject { ["method"] = "POST", ["path"] = "/Groups", ["bulkId"] = "g", ["data"] = Group(Unique("refs")) },
            new JsonObject
            {
                ["method"] = "PATCH", ["path"] = "/Groups/bulkId:g",
                ["data"] = Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = members }),
            },
        };
        var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
        var results = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK).Body!["Operations"]!.AsArray();
        Assert.Equal(["201", "201", "200"], results.Select(r => (string?)r!["status"]));
        string groupId = ((string)results[1]!["location"]!).Split('/')[^1];
        Assert.Equal(1L, server.Store.MemberCount(default, groupId));

        // Past 10,000 references in one operation: 400 tooMany before anything runs.
        for (int i = 0; i < 1_001; i++)
        {
            members.Add(new JsonObject { ["value"] = "bulkId:u" });
        }

        operations[0]!["data"] = User(Unique("ref2"));
        operations[1]!["data"] = Group(Unique("refs2"));
        (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).AssertError(HttpStatusCode.BadRequest, "tooMany");
    }

    [Fact]
    public async Task GroupListsStreamTheirMembers_Whole()
    {
        // GET /Groups and displayName lookups stream each group's members from the store (no
        // member list in memory); the JSON must still be whole, groups separated, members complete.
        var ids = new List<string>();
        for (int part = 0; part < 2; part++)
        {
            var operations = new JsonArray();
            for (int i = 0; i < 1_000; i++)
            {
                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + i, ["data"] = User(Unique("sm")) });
            }

            var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
            var results = (await Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK).Body!["Operations"]!.AsArray();
            ids.AddRange(results.Select(r => ((string)r!["location"]!).Split('/')[^1]));
        }

        string big = Unique("big"), small = Unique("small");
        var bigGroup = (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(big, [.. ids]))).Expect(HttpStatusCode.Created);
        (await Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(small, ids[0], ids[1]))).Expect(HttpStatusCode.Created);

        var lookup = (await Client.Get($"/scim/v2/Groups?filter=displayName eq \"{big}\"")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(2_000, lookup["Resources"]![0]!["members"]!.AsArray().Count);
        Assert.Equal(ids.Order(), lookup["Resources"]![0]!["members"]!.AsArray().Select(m => (string)m!["value"]!).Order());

        var both = (await Client.Get($"/scim/v2/Groups?filter=displayName eq \"{big}\" or displayName eq \"{small}\"&sortBy=displayName")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(2, (int)both["totalResults"]!);
        Assert.Equal([2_000, 2], both["Resources"]!.AsArray().Select(r => r!["members"]!.AsArray().Count));
        Assert.Equal(bigGroup.Id, (string?)both["Resources"]![0]!["id"]);

        var narrowed = (await Client.Get($"/scim/v2/Groups?filter=displayName eq \"{big}\"&attributes=members[value eq \"{ids[5]}\"]")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal([ids[5]], narrowed["Resources"]![0]!["members"]!.AsArray().Select(m => (string)m!["value"]!));
    }

    [Fact]
    public async Task PatchWithTooManyOperations_Is400TooMany()
    {
        var user = (await Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("ops")))).Expect(HttpStatusCode.Created);
        static JsonObject[] Operations(int count) => [.. Enumerable.Range(0, count).Select(i => new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "n" + i })];
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, Patch(Operations(1_001)))).AssertError(HttpStatusCode.BadRequest, "tooMany");
        (await Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, Patch(Operations(1_000)))).Expect(HttpStatusCode.OK);
    }
}

public sealed class ScanLimitFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments =>
        ["--Scim:Limits:ScanFreeResources=10", "--Scim:Limits:MaxScannedResources=50", "--Scim:Limits:MaxConcurrentScansPerTenant=1"];
}

/// <summary>Queries no index answers are bounded: a cap on resources read, a few at a time per tenant.</summary>
public sealed class ScanLimitTests(ScanLimitFixture server) : IClassFixture<ScanLimitFixture>
{
    [Fact]
    public async Task UnindexedQueries_AreCapped_AndLimitedPerTenant()
    {
        var client = server.Client;
        var operations = new JsonArray();
        for (int i = 0; i < 60; i++)
        {
            operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "b" + i, ["data"] = User(Unique("scan")) });
        }

        var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
        (await client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK);

        // 60 resources to read, 50 allowed: 400 tooMany with advice, for a filter and for a sort.
        var capped = await client.Get("/scim/v2/Users?filter=title eq \"nobody\"");
        capped.AssertError(HttpStatusCode.BadRequest, "tooMany");
        // The advice names what the Users catalogue answers (schemas/indexes/User.json).
        Assert.Contains("userName (eq, sw)", (string?)capped.Body!["detail"], StringComparison.Ordinal);
        Assert.Contains("emails.value (eq)", (string?)capped.Body!["detail"], StringComparison.Ordinal);
        (await client.Get("/scim/v2/Users?sortBy=title&count=1")).AssertError(HttpStatusCode.BadRequest, "tooMany");

        // Indexed queries and index paging are not scans.
        (await client.Get("/scim/v2/Users?count=5")).Expect(HttpStatusCode.OK);
        var lookup = (await client.Get("/scim/v2/Users?filter=userName eq \"nobody\"")).Expect(HttpStatusCode.OK);
        Assert.Equal(0, (int)lookup.Body!["totalResults"]!);

        // A tenant with 20 resources may scan them, one scan at a time: with its one slot taken
        // (as by a long scan in flight), the next is 429 with Retry-After; other tenants go on.
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        for (int i = 0; i < 20; i++)
        {
            (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", User(Unique("a")))).Expect(HttpStatusCode.Created);
        }

        (await acme.Get("/tenants/acme/scim/v2/Users?filter=title eq \"x\"")).Expect(HttpStatusCode.OK);
        var acmeTenant = await server.Handler.Tenants.GetOrAddAsync("acme");
        var slot = server.Handler.Users.Scans.For(acmeTenant, 1);
        Assert.True(slot.Wait(0));
        try
        {
            var limited = await acme.Get("/tenants/acme/scim/v2/Users?filter=title eq \"x\"");
            limited.AssertError((HttpStatusCode)429);
            Assert.NotNull(limited.Headers.RetryAfter);
            (await acme.Get("/tenants/acme/scim/v2/Users?filter=userName eq \"x\"")).Expect(HttpStatusCode.OK);
            using var globex = server.CreateClient(ScimServerFixture.GlobexToken);
            (await globex.Get("/tenants/globex/scim/v2/Users?filter=title eq \"x\"")).Expect(HttpStatusCode.OK);
        }
        finally
        {
            slot.Release();
        }

        (await acme.Get("/tenants/acme/scim/v2/Users?filter=title eq \"x\"")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task ScimResponses_AreNotCached()
    {
        var reply = await server.Client.Get("/scim/v2/Users?count=1");
        Assert.True(reply.Headers.CacheControl?.NoStore);
    }
}

public sealed class PublicBaseUrlFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments => ["--Scim:PublicBaseUrl=https://scim.example.com/edge/"];
}

/// <summary>Configuration holes: where locations point, reserved names, the generated first-run token, the request log.</summary>
public sealed class HardeningTests(PublicBaseUrlFixture server) : IClassFixture<PublicBaseUrlFixture>
{
    [Fact]
    public async Task PublicBaseUrl_BuildsEveryLocation_NotTheHostHeader()
    {
        var user = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", User(Unique("loc")), r => r.Headers.Host = "evil.example.net")).Expect(HttpStatusCode.Created);
        Assert.Equal("https://scim.example.com/edge/scim/v2/Users/" + user.Id, user.Headers.Location!.ToString());
        Assert.Equal("https://scim.example.com/edge/scim/v2/Users/" + user.Id, (string?)user.Body!["meta"]!["location"]);

        var group = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Groups", Group(Unique("g"), user.Id))).Expect(HttpStatusCode.Created);
        Assert.Equal("https://scim.example.com/edge/scim/v2/Users/" + user.Id, (string?)group.Body!["members"]![0]!["$ref"]);

        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        var tenantUser = (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", User(Unique("t")))).Expect(HttpStatusCode.Created);
        Assert.StartsWith("https://scim.example.com/edge/tenants/acme/scim/v2/Users/", tenantUser.Headers.Location!.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Scim:Tenants:default:BearerTokens:0=test-token-reserved-0123456789")]
    [InlineData("--Scim:Tenants:Default:BearerTokens:0=test-token-reserved-0123456789")]
    [InlineData("--Scim:PublicBaseUrl=ftp://example.com")]
    [InlineData("--Scim:PublicBaseUrl=https://example.com/?x=1")]
    [InlineData("--Scim:Events:PushHttpVersion=3")]
    [InlineData("--Scim:Events:PushTrustedCertificatesFile=/nonexistent/push-ca.pem")]
    public void BadConfiguration_StopsTheServerAtStart(string setting)
    {
        string directory = Path.Combine(Path.GetTempPath(), "scim-fast-config-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.Throws<ScimConfigurationException>(() => ScimServer.Create(["--urls", "http://127.0.0.1:0", "--Scim:DataDirectory=" + directory, "--Scim:BearerTokens:0=" + ScimServerFixture.Token, setting]));
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Fact]
    public void GeneratedToken_OnlyWithoutAnyCredential_AndRemovedOnceConfigured()
    {
        string directory = Path.Combine(Path.GetTempPath(), "scim-fast-token-" + Guid.NewGuid().ToString("N"));
        try
        {
            string file = Path.Combine(directory, BearerTokens.GeneratedTokenFile);
            Assert.NotNull(BearerTokens.GenerateDefaultTokenIfNeeded(new ScimServerOptions(), directory));
            Assert.True(File.Exists(file));
            Assert.Null(BearerTokens.GenerateDefaultTokenIfNeeded(new ScimServerOptions(), directory));

            // Only a named tenant configured: no token for the default tenant, and the old one goes.
            var withTenant = new ScimServerOptions { Tenants = { ["acme"] = new TenantOptions { BearerTokens = { ScimServerFixture.AcmeToken } } } };
            Assert.Null(BearerTokens.GenerateDefaultTokenIfNeeded(withTenant, directory));
            Assert.False(File.Exists(file));

            var withJwt = new ScimServerOptions { Jwt = { SigningKeys = { Convert.ToBase64String(new byte[32]) } } };
            Assert.Null(BearerTokens.GenerateDefaultTokenIfNeeded(withJwt, directory));
            Assert.False(File.Exists(file));
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Fact]
    public void RequestLog_EscapesControlCharactersInPaths()
    {
        // "%0D%0A" arrives decoded in Request.Path: unescaped it would forge a log line.
        Assert.Equal("/scim/v2/Users/x\\r\\n2026-01-01 forged\\u0000", RequestLog.Printable("/scim/v2/Users/x\r\n2026-01-01 forged\0"));
        const string clean = "/scim/v2/Users/ü-1";
        Assert.Same(clean, RequestLog.Printable(clean));
    }
}

/// <summary>
/// After a restart whose checkpoint has no matching ordered-index snapshot, the ordered indexes are
/// rebuilt from a scan of the key-value store: every resource must be listed again.
/// </summary>
public sealed class OrderedRebuildTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    [Fact]
    public async Task AfterConcurrentBulkCreates_ARebuildFromTheScanListsEveryUser()
    {
        // Six clients sending /Bulk creates for a while: the workload under which FASTER's
        // enumeration skipped a few keys (found by the chaos suite).
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(12));
        int acknowledged = 0;
        var workers = Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var operations = new JsonArray();
                for (int k = 0; k < 40; k++)
                {
                    operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "b" + k, ["data"] = User(Unique("rb"), externalId: Unique("rbe")) });
                }

                var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
                var results = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK).Body!["Operations"]!.AsArray();
                Interlocked.Add(ref acknowledged, results.Count(r => (string?)r!["status"] == "201"));
            }
        })).ToArray();
        await Task.WhenAll(workers);
        Assert.Equal(acknowledged, server.EmbeddedStore.OrderedCount(default, Protocol.StoreTypes.User, 0));

        // A checkpoint, then its snapshot is lost: the restart rebuilds from the scan.
        await server.EmbeddedStore.CheckpointAsync();
        await server.StopAsync();
        File.Delete(Path.Combine(server.DataDirectory, "store", "ordered.snapshot"));
        await server.StartAsync();
        Assert.False(server.EmbeddedStore.OrderedIndexesFromSnapshot);
        var list = (await server.Client.Get("/scim/v2/Users?count=0")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(acknowledged, (int)list["totalResults"]!);
        Assert.Empty(server.Store.Verify());
    }
}
