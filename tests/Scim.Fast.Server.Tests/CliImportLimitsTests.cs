using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>A server with small request limits: a 64 KiB /Bulk payload and body.</summary>
public sealed class SmallLimitsFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments =>
        ["--Scim:Limits:BulkMaxPayloadBytes=65536", "--Scim:Limits:MaxBodyBytes=65536", "--Scim:Limits:RequestsPerSecondPerToken=0"];
}

/// <summary>
/// The import keeps to the target's advertised /Bulk limits (RFC 7643 §5 maxPayloadSize,
/// maxOperations): batches are cut by bytes as well as by count, a group too large for one
/// request gets the rest of its members by PATCH, and only a resource that can never fit is refused.
/// </summary>
public sealed class CliImportLimitsTests(SmallLimitsFixture server) : IClassFixture<SmallLimitsFixture>
{
    [Fact]
    public async Task Import_SplitsBatchesByBytes_AddsABigGroupsMembersByPatch_AndRefusesOnlyWhatCannotFit()
    {
        using var work = new CliTests.TempFolder();
        string file = Path.Combine(work.Path, "big.ndjson");
        const int users = 1500;
        var lines = new List<string>();
        for (int i = 0; i < users; i++)
        {
            // ~700 bytes a user: 1,000 users a batch would be ~700 KB, ten times the limit.
            lines.Add(new JsonObject
            {
                ["schemas"] = new JsonArray(UserSchema),
                ["id"] = "old-" + i,
                ["userName"] = $"limits-{i}@example.com",
                ["displayName"] = new string('d', 600) + i,
            }.ToJsonString());
        }

        // One user that no request of this server can carry (its own body is past 64 KiB).
        lines.Add(new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["id"] = "huge", ["userName"] = "huge@example.com", ["displayName"] = new string('h', 70_000) }.ToJsonString());
        // Every user in one group: ~75 KB of members, past the payload limit on its own.
        lines.Add(new JsonObject
        {
            ["schemas"] = new JsonArray(GroupSchema),
            ["id"] = "everyone",
            ["displayName"] = "everyone",
            ["members"] = new JsonArray([.. Enumerable.Range(0, users).Select(i => (JsonNode)new JsonObject { ["value"] = "old-" + i })]),
        }.ToJsonString());
        await File.WriteAllLinesAsync(file, lines);

        string errors = Path.Combine(work.Path, "errors.ndjson");
        var (code, output) = await CliTests.RunAsync("import", "--target", server.BaseAddress + "scim/v2", "--token", ScimServerFixture.Token, "--in", file, "--errors", errors, "--json");
        Assert.True(code == 1, output); // 1: some lines were refused (the huge user)
        var summary = JsonNode.Parse(output)!;
        Assert.Equal(users, (int)summary["users"]!);
        Assert.Equal(1, (int)summary["groups"]!);
        Assert.Equal(1, (int)summary["rejected"]!);
        var rejected = JsonNode.Parse(File.ReadLines(errors).Single())!;
        Assert.Equal(users + 1, (long)rejected["line"]!);
        Assert.Equal(413, (int)rejected["status"]!);
        Assert.Equal("tooLarge", (string?)rejected["scimType"]);

        var group = (await server.Client.Get("/scim/v2/Groups?filter=displayName+eq+%22everyone%22")).Expect(HttpStatusCode.OK).Body!["Resources"]![0]!;
        var members = (await server.Client.Get("/scim/v2/Groups/" + (string)group["id"]! + "?attributes=members")).Expect(HttpStatusCode.OK).Body!["members"]!.AsArray();
        var memberIds = members.Select(m => (string)m!["value"]!).ToHashSet();
        Assert.Equal(users, memberIds.Count);
        var listed = (await server.Client.Get("/scim/v2/Users?filter=userName+sw+%22limits-%22&count=0")).Expect(HttpStatusCode.OK).Body!;
        Assert.Equal(users, (int)listed["totalResults"]!);
    }
}
