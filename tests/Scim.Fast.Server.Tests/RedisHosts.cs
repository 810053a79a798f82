using System.Diagnostics;

using Scim.Fast.Tests.Shared;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// Scim.Fast server processes sharing one Redis store (a key prefix of their own), as a platform
/// runs them behind a load balancer; each has its own data directory, removed at dispose.
/// </summary>
internal sealed class RedisHosts(RedisCluster cluster) : IDisposable
{
    private readonly List<string> _directories = [];

    public string Prefix { get; } = "h" + Guid.NewGuid().ToString("N")[..8] + ":";

    /// <summary>Starts one more host with these settings; returns once /readyz says ready.</summary>
    public async Task<ServerProcess> StartAsync(IEnumerable<string> settings)
    {
        string data = Path.Combine(Path.GetTempPath(), "scim-fast-hosts-" + Guid.NewGuid().ToString("N"));
        _directories.Add(data);
        var host = await ServerProcess.StartAsync(ServerProcess.BuiltServerPath(),
        [
            "--Scim:Store=Redis", "--Scim:Redis:Configuration=" + cluster.Configuration, "--Scim:Redis:KeyPrefix=" + Prefix,
            "--Scim:DataDirectory=" + data, "--Logging:LogLevel:Default=Warning", "--Scim:Limits:RequestsPerSecondPerToken=0",
            .. settings,
        ]);
        using var probe = new HttpClient { BaseAddress = host.Address };
        (await probe.GetAsync("/readyz")).EnsureSuccessStatusCode();
        return host;
    }

    /// <summary>Polls <paramref name="condition"/> every 100 ms; fails the test past <paramref name="timeout"/>.</summary>
    public static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string failure)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < timeout, failure + " within " + timeout.TotalSeconds + " s");
            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        foreach (string directory in _directories)
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
