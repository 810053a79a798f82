using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

using Scim.Fast.Storage.Resources;

using Scim.Fast.Tests.Shared;

using static Scim.Fast.Server.Tests.CliTests;
using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// A data directory whose key-value log lost part of a file (a copy or restore that stopped early,
/// a full disk): the server must refuse to start and say why, not serve without those users (it
/// did: FASTER recovers without looking, and the users in the lost part read as not there). A
/// record damaged in place must not take the server down with it. And a start that stops for a
/// reason the operator must fix says it in one line.
/// </summary>
public sealed class StoreDamageTests
{
    private const string Token = "damage-test-token-0123456789";

    [Fact]
    public async Task Server_OnAKeyValueLogCutShort_RefusesToStart_WithAPlainMessage()
    {
        using var temp = new TempFolder();
        string data = Path.Combine(temp.Path, "data");
        using (var server = await ServerProcess.StartAsync(ServerProcess.BuiltServerPath(),
            ["--Scim:DataDirectory=" + data, "--Scim:BearerTokens:0=" + Token, "--Logging:LogLevel:Default=Warning"]))
        {
            using var client = server.Client(Token);
            for (int i = 0; i < 20; i++)
            {
                (await client.Send(HttpMethod.Post, "/scim/v2/Users", User("damage-" + i))).Expect(HttpStatusCode.Created);
            }

            // A clean stop checkpoints: the users are in the key-value log's file from here on.
            await server.StopGracefullyAsync();
        }

        string segment = Path.Combine(data, "store", "kv", "kv.log.0");
        using (var file = new FileStream(segment, FileMode.Open))
        {
            Assert.True(file.Length > 4096, "the users are not in the key-value log's first file");
            file.SetLength(file.Length / 2);
        }

        string said = await AssertStartRefusedAsync("cannot be recovered", "--urls", "http://127.0.0.1:0", "--Scim:DataDirectory=" + data, "--Scim:BearerTokens:0=" + Token);
        Assert.Contains("kv.log.0", said, StringComparison.Ordinal);
    }

    // A stored record that no longer decodes (the key-value log's records carry no checksum): its
    // GET answers a SCIM 500 naming the request id, not Kestrel's empty 500; the other users are
    // served as before; and GET /admin/verify reports the record instead of failing itself (it
    // threw on the first such record: a 500 after reading minutes of a 1M-user store).
    [Fact]
    public async Task ADamagedRecord_AnswersAScim500_AndVerifyReportsIt()
    {
        await using var server = new AdminFixture();
        await server.InitializeAsync();
        var client = server.Client;
        string damaged = (await client.Send(HttpMethod.Post, "/scim/v2/Users", User("damaged-one"))).Expect(HttpStatusCode.Created).Id;
        string intact = (await client.Send(HttpMethod.Post, "/scim/v2/Users", User("intact-one"))).Expect(HttpStatusCode.Created).Id;
        server.EmbeddedStore.KeyValue.Upsert(ResourceStore.ResourceKey(TenantId.Default, Protocol.StoreTypes.User, damaged), [1, 0, 0]);

        using var response = await client.GetAsync("/scim/v2/Users/" + damaged);
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var error = JsonNode.Parse(body)!;
        Assert.Equal("urn:ietf:params:scim:api:messages:2.0:Error", (string)error["schemas"]![0]!);
        Assert.Equal("500", (string)error["status"]!);
        Assert.Contains("request id", (string)error["detail"]!, StringComparison.Ordinal);

        (await client.Send(HttpMethod.Get, "/scim/v2/Users/" + intact, (string?)null)).Expect(HttpStatusCode.OK);

        using var admin = server.CreateClient(AdminFixture.AdminToken);
        using var verify = await admin.GetAsync("/admin/verify");
        string report = await verify.Content.ReadAsStringAsync();
        Assert.True(verify.StatusCode == HttpStatusCode.OK, $"{verify.StatusCode}: {report}");
        var problems = JsonNode.Parse(report)!["problems"]!.AsArray().Select(p => (string)p!).ToList();
        Assert.Contains(problems, p => p.StartsWith("damaged record", StringComparison.Ordinal) && p.Contains(damaged, StringComparison.Ordinal));
    }

    // The other reason a start stops that the operator must fix: the address is taken. One line and
    // exit code 1, as for a damaged store (it was an unhandled exception and an abort).
    [Fact]
    public async Task Server_OnAnAddressInUse_SaysSo_AndExits1()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        using var temp = new TempFolder();
        string said = await AssertStartRefusedAsync("cannot start", "--urls", "http://127.0.0.1:" + port, "--Scim:DataDirectory=" + Path.Combine(temp.Path, "data"), "--Scim:BearerTokens:0=" + Token);
        Assert.Contains("address already in use", said, StringComparison.OrdinalIgnoreCase);
    }

    // A setting that cannot work stops the start the same way: one line naming it, exit code 1.
    [Fact]
    public async Task Server_WithABadSetting_SaysWhich_AndExits1()
    {
        await AssertStartRefusedAsync("cannot start: Scim:BasePath must start with '/'", "--urls", "http://127.0.0.1:0", "--Scim:BasePath=scim/v2/", "--Scim:BearerTokens:0=" + Token);
    }

    // A data directory that cannot be made (its parent is a file) stops the start with one line naming it.
    [Fact]
    public async Task Server_WhoseDataDirectoryCannotBeMade_SaysWhich_AndExits1()
    {
        using var temp = new TempFolder();
        string file = Path.Combine(temp.Path, "not-a-directory");
        await File.WriteAllTextAsync(file, "a file where the data directory's parent should be");
        string dataDirectory = Path.Combine(file, "data");
        await AssertStartRefusedAsync($"cannot start: the data directory {dataDirectory} cannot be created", "--urls", "http://127.0.0.1:0", "--Scim:DataDirectory=" + dataDirectory, "--Scim:BearerTokens:0=" + Token);
    }

    // A Redis store nobody answers for stops the start with one line naming the nodes, without the
    // configuration's password (it used to end in the client's exception, a page long, and exit 134).
    [Fact]
    public async Task Server_WhoseRedisStoreIsOutOfReach_SaysWhere_AndExits1_WithoutThePassword()
    {
        int port = FreeLoopbackPort();
        using var temp = new TempFolder();
        string said = await AssertStartRefusedAsync($"cannot start: the Redis store cannot be reached at 127.0.0.1:{port}",
            "--urls", "http://127.0.0.1:0", "--Scim:DataDirectory=" + Path.Combine(temp.Path, "data"),
            "--Scim:BearerTokens:0=" + Token, "--Scim:Store=Redis", $"--Scim:Redis:Configuration=127.0.0.1:{port},password=do-not-print-me,connectTimeout=2000");
        Assert.DoesNotContain("do-not-print-me", said, StringComparison.Ordinal);
    }

    // A loopback port nothing listens on (bound, then released).
    private static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    // A start the server must refuse: exit code 1, a line saying `expected`, no stack trace. Returns what it said.
    private static async Task<string> AssertStartRefusedAsync(string expected, params string[] arguments)
    {
        var (exitCode, said) = await RunServerToExitAsync(arguments);
        Assert.True(exitCode == 1, $"exit code {exitCode}: {said}");
        Assert.Contains(expected, said, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", said, StringComparison.Ordinal);
        return said;
    }

    // Runs the built server with these arguments until it exits on its own (60 s at most).
    private static async Task<(int ExitCode, string Said)> RunServerToExitAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "exec", ServerProcess.BuiltServerPath() }.Concat(arguments))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("the server started (or hung) where it should have refused");
        }

        return (process.ExitCode, await error + await output);
    }

    private sealed class AdminFixture : ScimServerFixture, IAsyncDisposable
    {
        public const string AdminToken = "damage-admin-token-0123456789";

        protected override IEnumerable<string> ExtraArguments => ["--Scim:AdminTokens:0=" + AdminToken];

        async ValueTask IAsyncDisposable.DisposeAsync() => await DisposeAsync();
    }
}
