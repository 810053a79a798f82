using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// A real Redis Cluster on 127.0.0.1 (DESIGN-NOTES §11): six Debian <c>redis-server</c> processes,
/// three primaries and three replicas, AOF with fsync always, a 2 s node timeout, joined by
/// <c>redis-cli --cluster create</c>; ready when every node says the cluster is ok and every
/// primary has its replica online (a replica that never synced cannot take over). <c>.ci/run</c>
/// installs redis-server and redis-tools when missing. <see cref="Shared"/> serves the test
/// servers, each in its own key prefix; a failover test starts a cluster of its own.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private static readonly Lazy<Task<RedisCluster>> s_shared = new(() => StartAsync());

    private readonly List<Node> _nodes = [];
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "scim-fast-redis-" + Guid.NewGuid().ToString("N"));

    private RedisCluster()
    {
    }

    /// <summary>One cluster for the whole test run, stopped when the test process exits.</summary>
    public static Task<RedisCluster> Shared => s_shared.Value;

    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>A StackExchange.Redis configuration string naming every node.</summary>
    public string Configuration => string.Join(",", _nodes.Select(n => "127.0.0.1:" + n.Port)) + ",connectTimeout=5000,syncTimeout=5000,asyncTimeout=5000";

    public static async Task<RedisCluster> StartAsync()
    {
        var cluster = new RedisCluster();
        // The shared cluster is never disposed by a test: stop its nodes and remove their data
        // when the test process ends (each run left ~100 MB of AOF files in /tmp before).
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.StopAndDelete();
        Directory.CreateDirectory(cluster._directory);
        foreach (int port in FreePorts(6))
        {
            cluster._nodes.Add(cluster.StartNode(port));
        }

        foreach (var node in cluster._nodes)
        {
            await WaitForAsync(() => Cli(node.Port, "PING").Trim() == "PONG", TimeSpan.FromSeconds(20), $"redis-server on {node.Port} did not answer PING");
        }

        string create = Run("redis-cli", ["--cluster", "create", .. cluster._nodes.Select(n => "127.0.0.1:" + n.Port), "--cluster-replicas", "1", "--cluster-yes"]);
        if (!create.Contains("[OK] All 16384 slots covered", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("redis-cli --cluster create failed:\n" + create);
        }

        await cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(60));
        return cluster;
    }

    /// <summary>Every node says the cluster is ok, and every primary has a replica online.</summary>
    public async Task WaitUntilHealthyAsync(TimeSpan timeout)
    {
        await WaitForAsync(() =>
        {
            var alive = _nodes.Where(n => !n.Process.HasExited).ToList();
            if (alive.Any(n => !Cli(n.Port, "CLUSTER", "INFO").Contains("cluster_state:ok", StringComparison.Ordinal)))
            {
                return false;
            }

            var primaries = alive.Where(n => Cli(n.Port, "ROLE").StartsWith("master", StringComparison.Ordinal)).ToList();
            return primaries.Count == 3 && primaries.All(p => Cli(p.Port, "INFO", "replication").Contains("state=online", StringComparison.Ordinal));
        }, timeout, "the Redis Cluster did not become healthy");
    }

    /// <summary>The node serving <paramref name="port"/>'s role now ("master" or "slave").</summary>
    public static string Role(int port) => Cli(port, "ROLE").Split('\n')[0].Trim();

    /// <summary>SIGKILL of one node (a machine lost).</summary>
    public void Kill(Node node)
    {
        node.Process.Kill();
        node.Process.WaitForExit();
    }

    /// <summary>Starts a killed node again on its port and data (it rejoins from nodes.conf).</summary>
    public void Restart(Node node)
    {
        int index = _nodes.IndexOf(node);
        _nodes[index] = StartNode(node.Port);
    }

    private Node StartNode(int port)
    {
        string directory = Path.Combine(_directory, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(directory);
        var start = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[]
        {
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--protected-mode", "no",
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", directory,
            // A node that rejoins as a replica gets its full copy at once, not after the default
            // 5 s wait for more replicas (README, "Required Redis settings"): until it has it, WAIT
            // cannot be met and writes answer 503.
            "--repl-diskless-sync-delay", "0",
            "--logfile", Path.Combine(directory, "redis.log"),
        })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start (is it installed? .ci/run installs it)");
        return new Node(port, process);
    }

    private static IEnumerable<int> FreePorts(int count)
    {
        // A node also listens on port + 10000 (the cluster bus): both must be free.
        var random = new Random();
        var ports = new List<int>();
        while (ports.Count < count)
        {
            int port = random.Next(20000, 30000);
            if (!ports.Contains(port) && IsFree(port) && IsFree(port + 10000))
            {
                ports.Add(port);
            }
        }

        return ports;
    }

    private static bool IsFree(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public static string Cli(int port, params string[] arguments) =>
        Run("redis-cli", ["-h", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. arguments]);

    private static string Run(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(30_000))
        {
            process.Kill();
        }

        return output + error.Result;
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string failure)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            if (stopwatch.Elapsed > timeout)
            {
                throw new TimeoutException(failure + " within " + timeout.TotalSeconds + " s");
            }

            await Task.Delay(200);
        }
    }

    private void Kill()
    {
        foreach (var node in _nodes)
        {
            try
            {
                if (!node.Process.HasExited)
                {
                    node.Process.Kill();
                    node.Process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        StopAndDelete();
        return ValueTask.CompletedTask;
    }

    private void StopAndDelete()
    {
        Kill();
        try
        {
            if (Directory.Exists(_directory))
            {
                Directory.Delete(_directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    public sealed record Node(int Port, Process Process);
}
