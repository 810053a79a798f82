using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;

namespace Scim.Fast.Chaos.Tests;

/// <summary>The server as its own process (so it can be SIGKILLed), on a port the OS picked.</summary>
internal sealed partial class ChaosServer : IDisposable
{
    public const string Token = "chaos-token-0123456789abcdef";

    private readonly Process _process;

    private ChaosServer(Process process) => _process = process;

    public Uri Address { get; private set; } = null!;

    /// <summary>Lines the server logged at error level ("fail:"), with the lines that follow them.</summary>
    public ConcurrentQueue<string> Failures { get; } = new();

    public static async Task<ChaosServer> StartAsync(string dataDirectory)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            "exec", ServerPath(), "--urls", "http://127.0.0.1:0", "--Scim:DataDirectory=" + dataDirectory,
            "--Scim:BearerTokens:0=" + Token, "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
            "--Logging:Console:FormatterName=simple", "--Scim:CheckpointIntervalSeconds=2", "--Scim:Limits:RequestTimeoutSeconds=3",
            "--Scim:Limits:RequestsPerSecondPerToken=0", "--Scim:Limits:BodyGraceSeconds=30", "--Scim:Limits:MinBodyBytesPerSecond=1",
            "--Scim:Limits:FailedAuthenticationsPerMinutePerAddress=0",
        })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        var server = new ChaosServer(process);
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        int following = 0;
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            // The port Kestrel bound for port 0 (Microsoft.Hosting.Lifetime), read back.
            if (ListeningLine().Match(line) is { Success: true } match)
            {
                listening.TrySetResult(new Uri(match.Groups[1].Value + "/"));
            }

            // An error and the lines after it (the request, the exception and its first frames).
            if (line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal))
            {
                following = 12;
            }

            if (following > 0)
            {
                following--;
                server.Failures.Enqueue(line);
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            server.Address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            server.Kill();
            throw new TimeoutException("the server did not start within 60 s");
        }

        return server;
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();

    public HttpClient Client(TimeSpan? timeout = null)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = timeout ?? TimeSpan.FromSeconds(30) };
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

    public bool HasExited => _process.HasExited;

    /// <summary>SIGTERM: Kestrel drains, the store checkpoints and closes.</summary>
    public async Task StopGracefullyAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private static string ServerPath()
    {
        if (Environment.GetEnvironmentVariable("SCIM_CHAOS_SERVER") is { Length: > 0 } other)
        {
            // Another build of the server, e.g. an older commit, to tell regressions from old faults.
            return other;
        }

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
