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

    [Fact]
    public async Task Commands_WithoutATarget_Fail_WithExitCode2()
    {
        var (code, output) = await RunAsync("verify", "--json");
        Assert.Equal(2, code);
        Assert.Contains("--data", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tokens_AddedToTheRunningServersDataDirectory_WorkAtOnce_AndStopWhenRevoked()
    {
        string data = server.DataDirectory;
        var (code, output) = await RunAsync("tokens", "add", "--data", data, "--description", "provisioning from Entra", "--json");
        Assert.True(code == 0, output);
        var added = JsonNode.Parse(output)!;
        string token = (string)added["token"]!, id = (string)added["id"]!;
        Assert.StartsWith("tok_", id, StringComparison.Ordinal);
        Assert.Equal("default", (string)added["tenant"]!);

        (code, output) = await RunAsync("tokens", "add", "--data", data, "--admin", "--json");
        Assert.True(code == 0, output);
        var admin = JsonNode.Parse(output)!;

        // The running server picks both up without a restart.
        using var client = server.CreateClient(token);
        using var adminClient = server.CreateClient((string)admin["token"]!);
        await WaitForStatusAsync(client, "/scim/v2/Users?count=1", HttpStatusCode.OK);
        await WaitForStatusAsync(adminClient, "/metrics", HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/metrics")).StatusCode); // a tenant's token is no admin token
        (await server.Client.Get("/scim/v2/Users?count=1")).Expect(HttpStatusCode.OK); // configured tokens still work

        // Only hashes on disk, owner-only; list shows ids and notes, never tokens.
        string file = Path.Combine(data, "tokens.json");
        Assert.DoesNotContain(token, File.ReadAllText(file), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }

        (code, output) = await RunAsync("tokens", "list", "--data", data, "--json");
        Assert.True(code == 0, output);
        var listed = JsonNode.Parse(output)!["tokens"]!.AsArray();
        Assert.Contains(listed, t => (string)t!["id"]! == id && (string)t["description"]! == "provisioning from Entra");
        Assert.DoesNotContain(token, output, StringComparison.Ordinal);

        // Revoked: refused from then on; the other token keeps working.
        (code, output) = await RunAsync("tokens", "revoke", id, "--data", data, "--json");
        Assert.True(code == 0, output);
        await WaitForStatusAsync(client, "/scim/v2/Users?count=1", HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, (await adminClient.GetAsync("/metrics")).StatusCode);
        (code, output) = await RunAsync("tokens", "revoke", id, "--data", data);
        Assert.Equal(1, code);
        Assert.Contains("no issued token", output, StringComparison.Ordinal);
        (code, output) = await RunAsync("tokens", "revoke", (string)admin["id"]!, "--data", data);
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task CsvImport_WithAColumnMapping_BuildsUsers_AndReportsBadRowsByLine()
    {
        using var work = new TempFolder();
        string csv = Path.Combine(work.Path, "people.csv");
        // Quoted fields with commas, doubled quotes and a line break; an empty cell; a bad boolean;
        // a duplicate userName; malformed quoting.
        File.WriteAllText(csv, string.Join("\n",
            "Email,First,Last,Work phone,Department,Enabled,Employee no,Notes",
            "ada@example.com,Ada,\"Lovelace, Countess\",+44 1,Analytics,yes,1815,\"said \"\"hello\"\"\"",
            "grace@example.com,Grace,Hopper,,Navy,0,1906,\"two",
            "lines\"",
            "linus@example.com,Linus,T,+1 2,Kernel,maybe,1969,",
            "ADA@example.com,Ada,Again,,,true,1,",
            "bad\"quote@example.com,Bad,Quote,,,true,2,",
            "ken@example.com,Ken,Thompson,+1 3,Unix,TRUE,1943,") + "\n");
        string map = Path.Combine(work.Path, "map.json");
        File.WriteAllText(map, """
            { "columns": {
                "Email": "userName",
                "First": "name.givenName",
                "Last": "name.familyName",
                "Work phone": "phoneNumbers[type eq \"work\"].value",
                "Department": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "Employee no": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                "Enabled": { "path": "active", "type": "boolean" },
                "Notes": "title" } }
            """);

        // A mapping naming a column the file lacks, or a path it cannot map, is a usage error,
        // before anything is written; so is a .csv without a mapping.
        string data = Path.Combine(work.Path, "data");
        string bad = Path.Combine(work.Path, "bad.json");
        File.WriteAllText(bad, """{ "columns": { "Email": "userName", "Manager": "title" } }""");
        var (code, output) = await RunAsync("import", "--data", data, "--in", csv, "--map", bad, "--json");
        Assert.Equal(2, code);
        Assert.Contains("'Manager'", output, StringComparison.Ordinal);
        File.WriteAllText(bad, """{ "columns": { "Email": "emails[value eq \"x\"].type" } }""");
        (code, output) = await RunAsync("import", "--data", data, "--in", csv, "--map", bad, "--json");
        Assert.Equal(2, code);
        (code, _) = await RunAsync("import", "--data", data, "--in", csv, "--json");
        Assert.Equal(2, code);
        Assert.False(Directory.Exists(data));

        (code, output) = await RunAsync("import", "--data", data, "--in", csv, "--map", map, "--json");
        Assert.Equal(1, code);
        Assert.Equal(3, (long)JsonNode.Parse(output)!["users"]!);
        var errors = File.ReadAllLines(csv + ".errors.ndjson").Select(l => JsonNode.Parse(l)!).ToDictionary(e => (long)e["line"]!);
        Assert.Equal([5L, 6L, 7L], errors.Keys.Order());
        Assert.Equal("invalidValue", (string?)errors[5]["scimType"]);   // "maybe" is no boolean
        Assert.Equal(409, (int)errors[6]["status"]!);                   // ADA@ is ada@ (userName is case-insensitive)
        Assert.Equal("invalidSyntax", (string?)errors[7]["scimType"]);  // the stray quote

        string exported = Path.Combine(work.Path, "out.ndjson");
        (code, output) = await RunAsync("export", "--data", data, "--out", exported, "--json");
        Assert.True(code == 0, output);
        var users = File.ReadLines(exported).Select(l => JsonNode.Parse(l)!).ToDictionary(u => (string)u["userName"]!);
        Assert.Equal(["ada@example.com", "grace@example.com", "ken@example.com"], users.Keys.Order());
        var ada = users["ada@example.com"];
        Assert.Equal("Lovelace, Countess", (string)ada["name"]!["familyName"]!);
        Assert.Equal("said \"hello\"", (string)ada["title"]!);
        Assert.True((bool)ada["active"]!);
        Assert.Equal("+44 1", (string)ada["phoneNumbers"]![0]!["value"]!);
        Assert.Equal("work", (string)ada["phoneNumbers"]![0]!["type"]!);
        var enterprise = ada["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]!;
        Assert.Equal("Analytics", (string)enterprise["department"]!);
        Assert.Equal("1815", (string)enterprise["employeeNumber"]!);
        var grace = users["grace@example.com"];
        Assert.False((bool)grace["active"]!);
        Assert.Equal("two\nlines", (string)grace["title"]!);
        Assert.Null(grace["phoneNumbers"]);
    }

    [Fact]
    public async Task OnlineBackup_DuringWrites_RestoresToAConsistentStore_WithEveryWriteAcknowledgedBeforeIt()
    {
        string tag = Guid.NewGuid().ToString("N")[..8];
        var acknowledged = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                string name = $"bk-{tag}-{w}-{i}@example.com";
                var reply = await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["userName"] = name });
                if (reply.Status == HttpStatusCode.Created)
                {
                    acknowledged.Enqueue(name);
                }
            }
        })).ToArray();

        while (acknowledged.Count < 300)
        {
            await Task.Delay(20);
        }

        var before = acknowledged.ToHashSet();
        using var work = new TempFolder();
        string archive = Path.Combine(work.Path, "online.tar.gz");
        var (code, output) = await RunAsync("backup", "--target", server.BaseAddress + "scim/v2", "--admin-token", AdminFixture.AdminToken, "--out", archive, "--json");
        int duringOrAfter = acknowledged.Count - before.Count;
        await Task.Delay(300);
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.True(code == 0, output);
        Assert.True(duringOrAfter > 0, "writes went on during the backup");

        // Restore runs the consistency check: every resource against every index.
        string restored = Path.Combine(work.Path, "restored");
        (code, output) = await RunAsync("restore", "--in", archive, "--data", restored, "--json");
        Assert.True(code == 0, output);
        Assert.Empty(JsonNode.Parse(output)!["problems"]!.AsArray());

        string exported = Path.Combine(work.Path, "restored.ndjson");
        (code, output) = await RunAsync("export", "--data", restored, "--out", exported, "--json");
        Assert.True(code == 0, output);
        var names = File.ReadLines(exported).Select(l => (string?)JsonNode.Parse(l)!["userName"]).Where(n => n?.StartsWith("bk-" + tag, StringComparison.Ordinal) == true).ToHashSet();
        Assert.Empty(before.Except(names!));             // nothing acknowledged before the backup is missing
        Assert.Subset(acknowledged.ToHashSet(), names!);  // nothing that was never acknowledged

        // Without an admin token, or with neither --data nor --target: refused.
        (code, _) = await RunAsync("backup", "--target", server.BaseAddress + "scim/v2", "--admin-token", "not-an-admin-token-0123", "--out", archive + "2");
        Assert.NotEqual(0, code);
        Assert.False(File.Exists(archive + "2"));
        (code, _) = await RunAsync("backup", "--out", archive + "3");
        Assert.Equal(2, code);
    }

    [Fact]
    public async Task OnlineBackup_HoldsWritesMadeAfterItsCheckpoint_InTheLogItCopiesLast()
    {
        // Writes acknowledged after the backup's checkpoint (here: once the first file is in the
        // archive) are only in the write-ahead log: the restored store must replay them.
        string tag = Guid.NewGuid().ToString("N")[..8];
        var during = new List<string>();
        using var work = new TempFolder();
        string archive = Path.Combine(work.Path, "during.tar.gz");
        await using (var file = File.Create(archive))
        {
            var gate = new FirstWriteStream(file, () =>
            {
                for (int i = 0; i < 20; i++)
                {
                    string name = $"during-{tag}-{i}@example.com";
                    server.Client.Send(HttpMethod.Post, "/scim/v2/Users", new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["userName"] = name })
                        .GetAwaiter().GetResult().Expect(HttpStatusCode.Created);
                    during.Add(name);
                }
            });
            await Admin.OnlineBackup.WriteAsync(server.Store, server.DataDirectory, gate, CancellationToken.None);
        }

        string restored = Path.Combine(work.Path, "restored");
        var (code, output) = await RunAsync("restore", "--in", archive, "--data", restored, "--json");
        Assert.True(code == 0, output);
        string exported = Path.Combine(work.Path, "restored.ndjson");
        (code, output) = await RunAsync("export", "--data", restored, "--out", exported, "--json");
        Assert.True(code == 0, output);
        var names = File.ReadLines(exported).Select(l => (string?)JsonNode.Parse(l)!["userName"]).ToHashSet();
        Assert.Equal(20, during.Count);
        Assert.All(during, name => Assert.Contains(name, names));
    }

    /// <summary>Runs an action (synchronously) before the first bytes are written through.</summary>
    private sealed class FirstWriteStream(Stream inner, Action first) : Stream
    {
        private Action? _first = first;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Interlocked.Exchange(ref _first, null)?.Invoke();
            inner.Write(buffer, offset, count);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Interlocked.Exchange(ref _first, null)?.Invoke();
            await inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private static async Task WaitForStatusAsync(HttpClient client, string path, HttpStatusCode expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        HttpStatusCode status;
        do
        {
            using var response = await client.GetAsync(path);
            status = response.StatusCode;
            if (status == expected)
            {
                return;
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Equal(expected, status);
    }

    private static async Task<(int Code, string Output)> RunAsync(params string[] args)
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

    private sealed class TempFolder : IDisposable
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
