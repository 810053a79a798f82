using System.Net;
using System.Text.Json.Nodes;

using Scim.Fast.Cli;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// The scim-fast tool end to end: export from a running server (online), import into a new data
/// directory (offline: the tool's embedded server), verify it, and export it again to compare
/// users and memberships; bad lines are reported and the good ones loaded.
/// </summary>
public sealed class CliTests(AdminFixture server) : IClassFixture<AdminFixture>
{
    [Fact]
    public async Task ExportImportVerify_RoundTrip_KeepsUsersAndMemberships()
    {
        string tag = Guid.NewGuid().ToString("N")[..8];
        var ids = new List<string>();
        for (int i = 0; i < 30; i++)
        {
            var user = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", new JsonObject
            {
                ["schemas"] = new JsonArray(UserSchema),
                ["userName"] = $"cli-{tag}-{i}@example.com",
                ["name"] = new JsonObject { ["givenName"] = "Cli", ["familyName"] = "N" + i },
            })).Expect(HttpStatusCode.Created);
            ids.Add(user.Id);
        }

        for (int g = 0; g < 2; g++)
        {
            (await server.Client.Send(HttpMethod.Post, "/scim/v2/Groups", new JsonObject
            {
                ["schemas"] = new JsonArray(GroupSchema),
                ["displayName"] = $"cli-{tag}-group-{g}",
                ["members"] = new JsonArray([.. ids.Where((_, i) => i % 2 == g).Select(id => new JsonObject { ["value"] = id })]),
            })).Expect(HttpStatusCode.Created);
        }

        using var work = new TempFolder();
        string exported = Path.Combine(work.Path, "a.ndjson");
        var (code, output) = await RunAsync("export", "--target", server.BaseAddress + "scim/v2", "--admin-token", AdminFixture.AdminToken, "--out", exported, "--json");
        Assert.True(code == 0, output);
        var before = Read(exported);

        string data = Path.Combine(work.Path, "data");
        (code, output) = await RunAsync("import", "--data", data, "--in", exported, "--json");
        Assert.True(code == 0, output);
        var summary = JsonNode.Parse(output)!;
        Assert.Equal(before.Users.Count, (long)summary["users"]!);
        Assert.Equal(before.Groups.Count, (long)summary["groups"]!);

        (code, output) = await RunAsync("verify", "--data", data, "--json");
        Assert.True(code == 0, output);
        Assert.Empty(JsonNode.Parse(output)!["problems"]!.AsArray());

        string again = Path.Combine(work.Path, "b.ndjson");
        (code, output) = await RunAsync("export", "--data", data, "--out", again, "--json");
        Assert.True(code == 0, output);
        var after = Read(again);
        Assert.Equal(before.Users.Keys.Order(), after.Users.Keys.Order());
        foreach (var (name, members) in before.Groups)
        {
            Assert.Equal(members.Order(), after.Groups[name].Order());
        }

        // New ids (the server's), the same people.
        Assert.Empty(before.Users.Values.Intersect(after.Users.Values));
    }

    [Fact]
    public async Task Import_ReportsBadLines_AndLoadsTheRest()
    {
        using var work = new TempFolder();
        string file = Path.Combine(work.Path, "in.ndjson");
        await File.WriteAllLinesAsync(file,
        [
            """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u1","userName":"one@example.com"}""",
            """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u2","userName":"ONE@example.com"}""",
            "{not json",
            """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u3","userName":"three@example.com","active":"maybe"}""",
            """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u4","userName":"four@example.com"}""",
            """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g1","displayName":"g","members":[{"value":"u1"},{"value":"u2"},{"value":"u4"}]}""",
        ]);
        string errors = Path.Combine(work.Path, "errors.ndjson");
        var (code, output) = await RunAsync("import", "--data", Path.Combine(work.Path, "data"), "--in", file, "--errors", errors, "--json");

        Assert.Equal(1, code);
        var summary = JsonNode.Parse(output)!;
        Assert.Equal(2, (long)summary["users"]!);
        Assert.Equal(1, (long)summary["groups"]!);
        var rejected = File.ReadAllLines(errors).Select(line => JsonNode.Parse(line)!).ToList();
        Assert.Contains(rejected, e => (long)e["line"]! == 2 && (long)e["status"]! == 409 && (string?)e["scimType"] == "uniqueness");
        Assert.Contains(rejected, e => (long)e["line"]! == 3 && (string?)e["scimType"] == "invalidSyntax");
        Assert.Contains(rejected, e => (long)e["line"]! == 4 && (long)e["status"]! == 400 && (string?)e["scimType"] == "invalidValue");
        Assert.Contains(rejected, e => (long)e["line"]! == 6 && ((string?)e["detail"])!.Contains("u2", StringComparison.Ordinal));
        Assert.Equal(4, (long)summary["rejected"]!);
    }

    [Fact]
    public async Task Import_ReadsTheFilesBytes_LineBreaksOfEitherKind_AByteOrderMark_AndNoBreakAtTheEnd()
    {
        // The offline import reads the file as bytes and hands each user line to the server as is:
        // it must number lines as a text reader would and find where each line ends.
        using var work = new TempFolder();
        string file = Path.Combine(work.Path, "in.ndjson");
        string User(string name) => new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["id"] = name, ["userName"] = name + "@example.com" }.ToJsonString();
        var text = "\uFEFF" + User("crlf-1") + "\r\n"
            + "\r\n"
            + """{"userName":"a@example.com"} {"userName":"b@example.com"}""" + "\n"
            + User("lf-4") + "\n"
            + new string(' ', 3) + "\n"
            + User("last-6");
        await File.WriteAllTextAsync(file, text, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        string errors = Path.Combine(work.Path, "errors.ndjson");
        string data = Path.Combine(work.Path, "data");
        var (code, output) = await RunAsync("import", "--data", data, "--in", file, "--errors", errors, "--json");

        Assert.Equal(1, code);
        Assert.Equal(3, (long)JsonNode.Parse(output)!["users"]!);
        var rejected = File.ReadAllLines(errors).Select(line => JsonNode.Parse(line)!).ToList();
        Assert.Equal(2, rejected.Count);
        Assert.Contains(rejected, e => (long)e["line"]! == 3 && (string?)e["scimType"] == "invalidSyntax");
        Assert.Contains(rejected, e => (long)e["line"]! == 5 && (string?)e["scimType"] == "invalidSyntax");

        string exported = Path.Combine(work.Path, "out.ndjson");
        (code, output) = await RunAsync("export", "--data", data, "--out", exported, "--json");
        Assert.True(code == 0, output);
        var names = File.ReadAllLines(exported).Select(line => (string)JsonNode.Parse(line)!["userName"]!).Order(StringComparer.Ordinal);
        Assert.Equal(["crlf-1@example.com", "last-6@example.com", "lf-4@example.com"], names);

        // Bytes that are no UTF-8 in a value the reader looks at: that line is refused, not the import.
        string broken = Path.Combine(work.Path, "broken.ndjson");
        byte[] badId = [.. "{\"id\":\""u8, 0xFF, 0xFE, .. "\",\"userName\":\"bad@example.com\"}\n"u8];
        await File.WriteAllBytesAsync(broken, [.. System.Text.Encoding.UTF8.GetBytes(User("good-1") + "\n"), .. badId]);
        (code, output) = await RunAsync("import", "--data", data, "--in", broken, "--errors", errors, "--json");
        Assert.Equal(1, code);
        Assert.Equal(1, (long)JsonNode.Parse(output)!["users"]!);
        var refused = Assert.Single(File.ReadAllLines(errors).Select(line => JsonNode.Parse(line)!));
        Assert.Equal(2, (long)refused["line"]!);
    }

    [Fact]
    public async Task BackupThenRestore_GivesTheSameResources_AndAVerifiedStore()
    {
        using var work = new TempFolder();
        string source = Path.Combine(work.Path, "source.ndjson");
        var lines = Enumerable.Range(0, 20)
            .Select(i => new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["id"] = "u" + i, ["userName"] = $"backup-{i}@example.com" }.ToJsonString())
            .Append(new JsonObject
            {
                ["schemas"] = new JsonArray(GroupSchema),
                ["id"] = "g",
                ["displayName"] = "backup group",
                ["members"] = new JsonArray(new JsonObject { ["value"] = "u1" }, new JsonObject { ["value"] = "u7" }),
            }.ToJsonString());
        await File.WriteAllLinesAsync(source, lines);
        string data = Path.Combine(work.Path, "data");
        var (code, output) = await RunAsync("import", "--data", data, "--in", source, "--json");
        Assert.True(code == 0, output);
        string before = Path.Combine(work.Path, "before.ndjson");
        (code, output) = await RunAsync("export", "--data", data, "--out", before, "--json");
        Assert.True(code == 0, output);

        string archive = Path.Combine(work.Path, "backup.tar.gz");
        (code, output) = await RunAsync("backup", "--data", data, "--out", archive, "--json");
        Assert.True(code == 0, output);
        string restored = Path.Combine(work.Path, "restored");
        (code, output) = await RunAsync("restore", "--in", archive, "--data", restored, "--json");
        Assert.True(code == 0, output);
        Assert.Empty(JsonNode.Parse(output)!["problems"]!.AsArray());

        string after = Path.Combine(work.Path, "after.ndjson");
        (code, output) = await RunAsync("export", "--data", restored, "--out", after, "--json");
        Assert.True(code == 0, output);

        // The same resources: ids, versions and memberships (the locations differ by port only).
        Assert.Equal(Comparable(before), Comparable(after));
        Assert.Equal(21, Comparable(after).Count);

        // Restore refuses to overwrite.
        (code, output) = await RunAsync("restore", "--in", archive, "--data", restored, "--json");
        Assert.Equal(2, code);
    }

    [Fact]
    public async Task TenantsDrop_DeletesANamedTenantsResources()
    {
        using var acme = server.CreateClient(ScimServerFixture.AcmeToken);
        for (int i = 0; i < 5; i++)
        {
            (await acme.Send(HttpMethod.Post, "/tenants/acme/scim/v2/Users", new JsonObject
            {
                ["schemas"] = new JsonArray(UserSchema),
                ["userName"] = $"drop-{Guid.NewGuid():N}@example.com",
            })).Expect(HttpStatusCode.Created);
        }

        var (code, output) = await RunAsync("tenants", "drop", "acme", "--target", server.BaseAddress + "scim/v2", "--admin-token", AdminFixture.AdminToken, "--json");
        Assert.True(code == 0, output);
        Assert.Equal("completed", (string?)JsonNode.Parse(output)!["state"]);
        var list = (await acme.Get("/tenants/acme/scim/v2/Users")).Expect(HttpStatusCode.OK);
        Assert.Equal(0, (int)list.Body!["totalResults"]!);
    }

    private static List<string> Comparable(string file) => [.. File.ReadLines(file).Where(l => l.Length > 0).Select(line =>
    {
        var node = JsonNode.Parse(line)!.AsObject();
        node["meta"]!.AsObject().Remove("location");
        foreach (var reference in (node["members"]?.AsArray() ?? []).Concat(node["groups"]?.AsArray() ?? []))
        {
            reference!.AsObject().Remove("$ref");
        }

        return node.ToJsonString();
    })];

    [Fact]
    public async Task Import_OfNestedGroups_AddsGroupMembersOnceEveryGroupExists()
    {
        using var work = new TempFolder();
        string file = Path.Combine(work.Path, "nested.ndjson");
        await File.WriteAllLinesAsync(file,
        [
            new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["id"] = "u1", ["userName"] = "nested-1@example.com" }.ToJsonString(),
            // "outer" names "inner" as a member before "inner" appears in the file.
            new JsonObject { ["schemas"] = new JsonArray(GroupSchema), ["id"] = "outer", ["displayName"] = "outer", ["members"] = new JsonArray(new JsonObject { ["value"] = "inner" }, new JsonObject { ["value"] = "u1" }) }.ToJsonString(),
            new JsonObject { ["schemas"] = new JsonArray(GroupSchema), ["id"] = "inner", ["displayName"] = "inner", ["members"] = new JsonArray(new JsonObject { ["value"] = "u1" }) }.ToJsonString(),
        ]);
        string data = Path.Combine(work.Path, "data");
        var (code, output) = await RunAsync("import", "--data", data, "--in", file, "--json");
        Assert.True(code == 0, output);

        string exported = Path.Combine(work.Path, "out.ndjson");
        (code, output) = await RunAsync("export", "--data", data, "--out", exported, "--json");
        Assert.True(code == 0, output);
        var resources = File.ReadLines(exported).Select(l => JsonNode.Parse(l)!).ToList();
        string innerId = (string)resources.Single(r => (string?)r["displayName"] == "inner")["id"]!;
        string userId = (string)resources.Single(r => (string?)r["userName"] == "nested-1@example.com")["id"]!;
        var outerMembers = resources.Single(r => (string?)r["displayName"] == "outer")["members"]!.AsArray().Select(m => (string)m!["value"]!).Order().ToList();
        Assert.Equal(new[] { innerId, userId }.Order().ToList(), outerMembers);
    }

    [Fact]
    public async Task Offline_OnTheDirectoryOfARunningServer_IsRefused()
    {
        var (code, output) = await RunAsync("verify", "--data", server.DataDirectory, "--json");
        Assert.Equal(2, code);
        Assert.Contains("another process", output, StringComparison.Ordinal);

        // The running server is unharmed.
        (await server.Client.Get("/scim/v2/Users?count=1")).Expect(HttpStatusCode.OK);
    }

    // A data directory whose key-value log file is gone: every offline command says why in one line
    // (it was an unhandled exception with its stack trace), verify counts it as its finding (1), the
    // others as an error (2), backup writes no archive, and restore of such an archive finds it.
    [Fact]
    public async Task Offline_OnAStoreThatCannotBeRecovered_SaysWhy_InOneLine()
    {
        using var work = new TempFolder();
        string file = Path.Combine(work.Path, "in.ndjson");
        await File.WriteAllLinesAsync(file, Enumerable.Range(0, 200).Select(i =>
            $$"""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"damaged{{i}}@example.com","displayName":"{{new string('d', 400)}}"}"""));
        string data = Path.Combine(work.Path, "data");
        var (code, output) = await RunAsync("import", "--data", data, "--in", file, "--json");
        Assert.True(code == 0, output);
        (code, output) = await RunAsync("verify", "--data", data, "--json");
        Assert.True(code == 0, output);

        string log = Path.Combine(data, "store", "kv", "kv.log.0");
        Assert.True(new FileInfo(log).Length > 0, "the import left no key-value log on disk to lose");
        File.Delete(log);

        (code, output) = await RunAsync("verify", "--data", data, "--json");
        Assert.Equal(1, code);
        AssertOneLineSaysWhy(output);

        (code, output) = await RunAsync("export", "--data", data, "--out", Path.Combine(work.Path, "out.ndjson"));
        Assert.Equal(2, code);
        AssertOneLineSaysWhy(output);

        string archive = Path.Combine(work.Path, "backup.tar.gz");
        (code, output) = await RunAsync("backup", "--data", data, "--out", archive);
        Assert.Equal(2, code);
        AssertOneLineSaysWhy(output);
        Assert.False(File.Exists(archive), "an archive was written of a store that does not open");

        // An archive made by hand of the damaged directory: restore finds it.
        System.Formats.Tar.TarFile.CreateFromDirectory(data, Path.Combine(work.Path, "damaged.tar"), includeBaseDirectory: false);
        await using (var tar = File.OpenRead(Path.Combine(work.Path, "damaged.tar")))
        await using (var gzip = new System.IO.Compression.GZipStream(File.Create(archive), System.IO.Compression.CompressionLevel.Fastest))
        {
            await tar.CopyToAsync(gzip);
        }

        (code, output) = await RunAsync("restore", "--in", archive, "--data", Path.Combine(work.Path, "restored"));
        Assert.Equal(1, code);
        AssertOneLineSaysWhy(output);

        static void AssertOneLineSaysWhy(string output)
        {
            Assert.StartsWith("error: ", output, StringComparison.Ordinal);
            Assert.Contains("cannot be recovered", output, StringComparison.Ordinal);
            Assert.Contains("kv.log.0", output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Commands_WithoutATarget_Fail_WithExitCode2()
    {
        var (code, output) = await RunAsync("verify", "--json");
        Assert.Equal(2, code);
        Assert.Contains("--data", output, StringComparison.Ordinal);
    }

    internal static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        int code = await ScimFastTool.RunAsync(args, output, output);
        return (code, output.ToString().Trim());
    }

    // userName → id, and group displayName → member userNames, from an export.
    private static (Dictionary<string, string> Users, Dictionary<string, List<string>> Groups) Read(string file)
    {
        var users = new Dictionary<string, string>();
        var groupNodes = new List<JsonNode>();
        foreach (var line in File.ReadLines(file).Where(l => l.Length > 0))
        {
            var node = JsonNode.Parse(line)!;
            if (node["displayName"] is not null && node["userName"] is null)
            {
                groupNodes.Add(node);
            }
            else
            {
                users[(string)node["userName"]!] = (string)node["id"]!;
            }
        }

        var names = users.ToDictionary(u => u.Value, u => u.Key);
        var groups = groupNodes.ToDictionary(
            g => (string)g["displayName"]!,
            g => (g["members"]?.AsArray() ?? []).Select(m => names[(string)m!["value"]!]).ToList());
        return (users, groups);
    }

    internal sealed class TempFolder : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "scim-fast-cli-" + Guid.NewGuid().ToString("N"));

        public TempFolder() => Directory.CreateDirectory(Path);

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
