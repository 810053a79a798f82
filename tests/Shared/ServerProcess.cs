using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;

namespace Scim.Fast.Tests.Shared;

/// <summary>
/// The built server as its own process (so a test can SIGKILL it), on a port the OS picked: it is
/// started with port 0 and the port Kestrel bound is read back from its log, so there is no
/// bind-release-reuse race. Lines it logs at error level are kept, with the lines after them.
/// Shared (as a linked file) by the crash tests and the chaos suite.
/// </summary>
internal partial class ServerProcess : IDisposable
{
    private readonly Process _process;

    protected ServerProcess(Process process) => _process = process;

    public Uri Address { get; private set; } = null!;

    /// <summary>Lines the server logged at error level ("fail:", "crit:"), with the lines that follow them.</summary>
    public ConcurrentQueue<string> Failures { get; } = new();

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <paramref name="serverPath"/> with the given settings; returns once it listens.</summary>
    public static Task<ServerProcess> StartAsync(string serverPath, IEnumerable<string> settings) =>
        StartAsync(static process => new ServerProcess(process), serverPath, settings);

    protected static async Task<TServer> StartAsync<TServer>(Func<Process, TServer> create, string serverPath, IEnumerable<string> settings)
        where TServer : ServerProcess
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "exec", serverPath, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information" }.Concat(settings))
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        var server = create(process);
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
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("the server exited on its own"));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            server.Address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch
        {
            server.Kill();
            throw;
        }

        return server;
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();

    public HttpClient Client(string token, TimeSpan? timeout = null)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
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
            await kill!.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The server built alongside the tests (a project reference): same configuration and framework.</summary>
    public static string BuiltServerPath()
    {
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
