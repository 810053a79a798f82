using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.CliTests;
using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

public sealed class RedisAdminFixture : ScimServerFixture
{
    protected override bool OnRedis => true;

    protected override IEnumerable<string> ExtraArguments => ["--Scim:AdminTokens:0=" + AdminFixture.AdminToken];
}

/// <summary>
/// Moving a tenant between the backends with the scim-fast tool (issue 16): export from a server on
/// the embedded store, import into a server on Redis (online, through /Bulk), and back from Redis
/// into a new embedded data directory (offline); the same users and memberships each way (new ids,
/// the server's), and the Redis store's own check clean.
/// </summary>
public sealed class StoreMigrationTests(AdminFixture embedded, RedisAdminFixture redis) : IClassFixture<AdminFixture>, IClassFixture<RedisAdminFixture>
{
    [Fact]
    public async Task ATenant_MovesFromTheEmbeddedStoreToRedis_AndBack()
    {
        string tag = Guid.NewGuid().ToString("N")[..8];
        using var acme = embedded.CreateClient(ScimServerFixture.AcmeToken);
        var ids = new List<string>();
        for (int i = 0; i < 40; i++)
        {
            ids.Add((await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", User($"move-{tag}-{i}@example.com", externalId: $"x-{tag}-{i}"))).Expect(HttpStatusCode.Created).Id);
        }

        for (int g = 0; g < 3; g++)
        {
            (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Groups", Group($"move-{tag}-{g}", [.. ids.Where((_, i) => i % 3 == g)]))).Expect(HttpStatusCode.Created);
        }

        using var work = new TempFolder();
        string fromEmbedded = Path.Combine(work.Path, "embedded.ndjson");
        var (code, output) = await RunAsync("export", "--target", embedded.BaseAddress + "scim/v2", "--admin-token", AdminFixture.AdminToken, "--tenant", "acme", "--out", fromEmbedded, "--json");
        Assert.True(code == 0, output);
        var before = Resources(fromEmbedded);
        Assert.Equal(40, before.Users.Count);

        // Into the Redis-backed server's acme tenant, online.
        (code, output) = await RunAsync("import", "--target", redis.BaseAddress + "tenants/acme/scim/v2", "--token", ScimServerFixture.AcmeToken, "--in", fromEmbedded, "--json");
        Assert.True(code == 0, output);
        string fromRedis = Path.Combine(work.Path, "redis.ndjson");
        (code, output) = await RunAsync("export", "--target", redis.BaseAddress + "scim/v2", "--admin-token", AdminFixture.AdminToken, "--tenant", "acme", "--out", fromRedis, "--json");
        Assert.True(code == 0, output);
        AssertSame(before, Resources(fromRedis));

        using var admin = redis.CreateClient(AdminFixture.AdminToken);
        var problems = JsonNode.Parse(await admin.GetStringAsync("/admin/verify"))!["problems"]!.AsArray();
        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(10)));

        // And back, into a new embedded data directory (offline).
        string data = Path.Combine(work.Path, "data");
        (code, output) = await RunAsync("import", "--data", data, "--tenant", "acme", "--in", fromRedis, "--json");
        Assert.True(code == 0, output);
        string back = Path.Combine(work.Path, "back.ndjson");
        (code, output) = await RunAsync("export", "--data", data, "--tenant", "acme", "--out", back, "--json");
        Assert.True(code == 0, output);
        AssertSame(before, Resources(back));
    }

    private static void AssertSame(Moved expected, Moved actual)
    {
        Assert.Equal(expected.Users.Keys.Order(StringComparer.Ordinal), actual.Users.Keys.Order(StringComparer.Ordinal));
        foreach (var (userName, externalId) in expected.Users)
        {
            Assert.Equal(externalId, actual.Users[userName]);
        }

        Assert.Equal(expected.Groups.Keys.Order(StringComparer.Ordinal), actual.Groups.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, members) in expected.Groups)
        {
            Assert.Equal(members.Order(StringComparer.Ordinal), actual.Groups[name].Order(StringComparer.Ordinal));
        }
    }

    // userName → externalId; group displayName → its members' userNames.
    private sealed record Moved(Dictionary<string, string?> Users, Dictionary<string, List<string>> Groups);

    private static Moved Resources(string file)
    {
        var users = new Dictionary<string, string?>();
        var names = new Dictionary<string, string>();
        var groups = new List<JsonNode>();
        foreach (var line in File.ReadLines(file).Where(l => l.Length > 0))
        {
            var node = JsonNode.Parse(line)!;
            if (node["userName"] is { } userName)
            {
                users[(string)userName!] = (string?)node["externalId"];
                names[(string)node["id"]!] = (string)userName!;
            }
            else
            {
                groups.Add(node);
            }
        }

        return new Moved(users, groups.ToDictionary(
            g => (string)g["displayName"]!,
            g => (g["members"]?.AsArray() ?? []).Select(m => names[(string)m!["value"]!]).ToList()));
    }
}
