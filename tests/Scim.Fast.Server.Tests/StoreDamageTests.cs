using System.Diagnostics;
using System.Net;

using Scim.Fast.Tests.Shared;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// A data directory whose key-value log lost part of a file (a copy or restore that stopped early,
/// a full disk): the server must refuse to start and say why, not serve without those users (it
/// did: FASTER recovers without looking, and the users in the lost part read as not there).
/// </summary>
public sealed class StoreDamageTests
{
    private const string Token = "damage-test-token-0123456789";

    [Fact]
    public async Task Server_OnAKeyValueLogCutShort_RefusesToStart_WithAPlainMessage()
    {
        string data = Path.Combine(Path.GetTempPath(), "scim-fast-damage-" + Guid.NewGuid().ToString("N"));
        try
        {
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

            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string arg in new[] { "exec", ServerProcess.BuiltServerPath(), "--urls", "http://127.0.0.1:0", "--Scim:DataDirectory=" + data, "--Scim:BearerTokens:0=" + Token })
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
                Assert.Fail("the server started (or hung) on a damaged store");
            }

            string said = await error + await output;
            Assert.True(process.ExitCode == 1, $"exit code {process.ExitCode}: {said}");
            Assert.Contains("cannot be recovered", said, StringComparison.Ordinal);
            Assert.Contains("kv.log.0", said, StringComparison.Ordinal);
            Assert.DoesNotContain("Unhandled exception", said, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }
}
