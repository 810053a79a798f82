using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// The durability claim end to end: the real server process takes creates and membership PATCHes
/// from concurrent clients and is killed with SIGKILL at a random moment, several rounds on one
/// data directory. After each restart every write it acknowledged (201 / 204) is there, reachable
/// by id and by the userName index, and nothing is half-applied.
/// </summary>
public sealed class ServerCrashTests
{
    private const string Token = "crash-test-token-0123456789";

    [Fact]
    public async Task KilledServer_KeepsEveryAcknowledgedWrite()
    {
        string data = Path.Combine(Path.GetTempPath(), "scim-fast-crash-" + Guid.NewGuid().ToString("N"));
        var random = new Random(20261129);
        var acknowledged = new ConcurrentDictionary<string, string>();   // userName → id
        var acknowledgedMembers = new ConcurrentBag<string>();
        var attempted = new ConcurrentBag<string>();
        string? groupId = null;
        try
        {
            for (int round = 0; round < 3; round++)
            {
                using var server = await ServerProcess.StartAsync(data);
                using var client = server.Client();
                await VerifyAsync(client, acknowledged, acknowledgedMembers, attempted, groupId);
                groupId ??= (await client.Send(HttpMethod.Post, "/scim/v2/Groups", Group("crash-group"))).Expect(HttpStatusCode.Created).Id;

                using var stop = new CancellationTokenSource();
                var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
                {
                    for (int i = 0; !stop.IsCancellationRequested; i++)
                    {
                        string userName = $"crash-{round}-{w}-{i}";
                        attempted.Add(userName);
                        try
                        {
                            var reply = await client.Send(HttpMethod.Post, "/scim/v2/Users", User(userName, externalId: "x" + userName));
                            if (reply.Status != HttpStatusCode.Created)
                            {
                                continue;
                            }

                            acknowledged[userName] = reply.Id;
                            var patch = Patch(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = reply.Id }) });
                            var added = await client.Send(HttpMethod.Patch, "/scim/v2/Groups/" + groupId, patch);
                            if (added.Status == HttpStatusCode.NoContent)
                            {
                                acknowledgedMembers.Add(reply.Id);
                            }
                        }
                        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
                        {
                            return; // the server died under us: whatever was not answered is not acknowledged
                        }
                    }
                })).ToArray();

                await Task.Delay(random.Next(400, 1500));
                server.Kill();
                await stop.CancelAsync();
                await Task.WhenAll(writers);
            }

            using (var last = await ServerProcess.StartAsync(data))
            {
                using var client = last.Client();
                await VerifyAsync(client, acknowledged, acknowledgedMembers, attempted, groupId);
                Assert.True(acknowledged.Count > 20, $"only {acknowledged.Count} writes were acknowledged: the test did not exercise much");
                await last.StopGracefullyAsync();
            }
        }
        finally
        {
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task VerifyAsync(HttpClient client, ConcurrentDictionary<string, string> acknowledged, ConcurrentBag<string> members, ConcurrentBag<string> attempted, string? groupId)
    {
        foreach (var (userName, id) in acknowledged)
        {
            var read = (await client.Get("/scim/v2/Users/" + id)).Expect(HttpStatusCode.OK);
            Assert.Equal(userName, (string?)read.Body!["userName"]);
            var byName = (await client.Get($"/scim/v2/Users?filter=userName+eq+%22{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal([id], Ids(byName));
        }

        // Unacknowledged creates are all-or-nothing: absent, or present and findable by both indexes.
        foreach (var userName in attempted.Where(a => !acknowledged.ContainsKey(a)))
        {
            var byName = (await client.Get($"/scim/v2/Users?filter=userName+eq+%22{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            var byExternal = (await client.Get($"/scim/v2/Users?filter=externalId+eq+%22x{userName}%22")).Expect(HttpStatusCode.OK).Body!;
            Assert.Equal(Ids(byName), Ids(byExternal));
            Assert.True((int)byName["totalResults"]! <= 1);
        }

        if (groupId is not null)
        {
            var group = (await client.Get("/scim/v2/Groups/" + groupId)).Expect(HttpStatusCode.OK).Body!;
            var present = group["members"]!.AsArray().Select(m => (string)m!["value"]!).ToHashSet();
            foreach (var member in members)
            {
                Assert.Contains(member, present);
            }

            // Reverse index: each member's User.groups names the group.
            foreach (var member in members.Take(20))
            {
                var user = (await client.Get("/scim/v2/Users/" + member)).Body!;
                Assert.Contains(groupId, user["groups"]!.AsArray().Select(g => (string)g!["value"]!));
            }
        }
    }

    /// <summary>The server as a child process (`dotnet exec` of the built server), on a free loopback port.</summary>
    private sealed class ServerProcess : IDisposable
    {
        private readonly Process _process;

        private ServerProcess(Process process, Uri address)
        {
            _process = process;
            Address = address;
        }

        public Uri Address { get; }

        public static async Task<ServerProcess> StartAsync(string dataDirectory)
        {
            int port = FreePort();
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[]
            {
                "exec", ServerPath(), "--urls", $"http://127.0.0.1:{port}", "--Scim:DataDirectory=" + dataDirectory,
                "--Scim:BearerTokens:0=" + Token, "--Logging:LogLevel:Default=Warning", "--Scim:CheckpointIntervalSeconds=1",
                "--Scim:Limits:RequestsPerSecondPerToken=0",
            })
            {
                start.ArgumentList.Add(arg);
            }

            var process = Process.Start(start)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var server = new ServerProcess(process, new Uri($"http://127.0.0.1:{port}/"));
            using var probe = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(2) };
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline)
            {
                Assert.False(process.HasExited, "the server exited on its own");
                try
                {
                    using var response = await probe.GetAsync("/healthz");
                    if (response.IsSuccessStatusCode)
                    {
                        return server;
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }

                await Task.Delay(100);
            }

            server.Kill();
            throw new TimeoutException("the server did not start within 60 s");
        }

        public HttpClient Client()
        {
            var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            return client;
        }

        /// <summary>SIGKILL on Linux: no shutdown hooks, no checkpoint, no flush.</summary>
        public void Kill()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit();
            }
        }

        /// <summary>SIGTERM: Kestrel drains, the store checkpoints and closes.</summary>
        public async Task StopGracefullyAsync()
        {
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(0, _process.ExitCode);
        }

        public void Dispose()
        {
            Kill();
            _process.Dispose();
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        private static string ServerPath()
        {
            // The server project is built alongside the tests (project reference), same configuration.
            var testDirectory = new DirectoryInfo(AppContext.BaseDirectory);
            string configuration = testDirectory.Parent!.Name;
            var directory = testDirectory;
            while (!File.Exists(Path.Combine(directory!.FullName, "Scim.Fast.sln")))
            {
                directory = directory.Parent;
            }

            return Path.Combine(directory.FullName, "src", "Scim.Fast.Server", "bin", configuration, testDirectory.Name, "Scim.Fast.Server.dll");
        }
    }
}
