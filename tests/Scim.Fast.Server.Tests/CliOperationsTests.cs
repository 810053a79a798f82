using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.CliTests;
using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// The scim-fast tool's operator commands against a running server: issued tokens (work and stop
/// working without a restart), users from CSV with a column mapping, and online backups taken
/// while writes go on.
/// </summary>
public sealed class CliOperationsTests(AdminFixture server) : IClassFixture<AdminFixture>
{
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

        string exported = await RestoreAndExportAsync(archive, work);
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
            await Admin.OnlineBackup.WriteAsync(server.EmbeddedStore, server.DataDirectory, gate, CancellationToken.None);
        }

        string exported = await RestoreAndExportAsync(archive, work);
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

    // Restores an archive into a new directory (the restore runs the consistency check, which
    // must be clean) and exports it; the export's path.
    private static async Task<string> RestoreAndExportAsync(string archive, TempFolder work)
    {
        string restored = Path.Combine(work.Path, "restored");
        var (code, output) = await RunAsync("restore", "--in", archive, "--data", restored, "--json");
        Assert.True(code == 0, output);
        Assert.Empty(JsonNode.Parse(output)!["problems"]!.AsArray());
        string exported = Path.Combine(work.Path, "restored.ndjson");
        (code, output) = await RunAsync("export", "--data", restored, "--out", exported, "--json");
        Assert.True(code == 0, output);
        return exported;
    }
}
