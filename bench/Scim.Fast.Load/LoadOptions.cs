using System.Globalization;
using System.Net;

namespace Scim.Fast.Load;

/// <summary>Command-line options: `&lt;scenario&gt; [--option value]…`. See <see cref="Usage"/>.</summary>
internal sealed class LoadOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project bench/Scim.Fast.Load -- <scenario> [options]

        scenarios:
          read           GET by id / filter lookups / cursor paging over seeded users (--op)
          write          POST /Users of new users or PATCH /Users/{id} over seeded users (--op post|patch)
          initial-sync   the Entra pattern (filter lookup, then POST) or /Bulk batches (--batch)
          group-push     groups created empty, then members added by PATCH in batches;
                         --big-group N adds single-member changes on an N-member group vs a 10-member one
          incremental    filter lookup, then PATCH / PUT updates and deactivations
          mixed          many tenants at a per-tenant rate (JWT per tenant: --jwt-key)
          events         PATCHes with no event stream, then with --consumers attached; delivery lag
                         (write acknowledged -> SET received) per consumer; push needs the server's
                         --Scim:Events:AllowPrivatePushTargets=true (the receiver runs here)

        target:
          --target URL           SCIM base URL (default http://127.0.0.1:8080/scim/v2)
          --token TOKEN          bearer token (default: $SCIM_TOKEN)
          --allow-remote         allow a non-loopback target (refused otherwise)

        load model:
          --concurrency N        closed model: N requests in flight (default 32)
          --rate R               open model: R operations/s at constant arrival, latency from the
                                 intended start (no coordinated omission); --concurrency caps in-flight
          --duration S           measured seconds (default 20)
          --requests N           stop after N measured operations instead
          --warmup S             unmeasured seconds first (default 5)

        data:
          --users N              users to seed / create (default 100000)
          --batch N              /Bulk operations per request (initial-sync; 0 = Entra lookup+POST)
          --groups N             groups (group-push, initial-sync; default 100)
          --members N            members per PATCH or per group (default 100)
          --big-group N          members of the big group (group-push; default 0 = off)
          --op get|username|externalid|page|range|deep-page|sw|scan|sort   read operation (default get);
                                 post|patch for write
          --users-named P        read: read the users an initial-sync created, named P0000000@example.com …
                                 (initial-sync prints P; they are in its groups), instead of seeding
                                 users of its own; not with --op externalid
          --write-rate W         read: after the read-only run, the same reads again while W PATCHes a
                                 second replace seeded users' displayName; reported against the
                                 read-only run (read p99 with writes over without)
          --tenants N            tenants (mixed; default 10)
          --consumers LIST       events: poll,push,sse (default poll,push)
          --receiver-http2       events: the push receiver speaks only HTTP/2 over cleartext (prior
                                 knowledge); give the server --Scim:Events:PushHttpVersion=2
          --rounds N             events: N rounds of (no stream, then streams), each of --warmup and
                                 --duration, streams deleted between; read/write with --baseline: N
                                 rounds of (server, baseline); the ratio is taken per round and its
                                 median reported (a machine whose speed drifts between two long phases)
          --jwt-key B64 --jwt-issuer I --jwt-audience A   mint per-tenant JWTs (mixed)

        output:
          --baseline             also run the same requests against a bare Kestrel endpoint returning
                                 the same bytes, and report the ratio (same run, same machine); the
                                 endpoint runs in a process of its own, with server GC, as the server
          --baseline-in-process  the same, with the endpoint inside this load client's process
          --out DIR              results directory (default bench/results/load)
          --label TEXT           name for the result files
        """;

    public required string Scenario { get; init; }

    public Uri Target { get; init; } = new("http://127.0.0.1:8080/scim/v2");

    public string? Token { get; init; }

    public int Concurrency { get; init; } = 32;

    public double? Rate { get; init; }

    /// <summary>read: PATCHes a second to seeded users during a second measured run (0: none).</summary>
    public double WriteRate { get; init; }

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);

    public long? Requests { get; init; }

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(5);

    public int Users { get; init; } = 100_000;

    public int Batch { get; init; }

    public int Groups { get; init; } = 100;

    public int Members { get; init; } = 100;

    public int BigGroup { get; init; }

    public string Op { get; init; } = "get";

    public int Tenants { get; init; } = 10;

    public string? JwtKey { get; init; }

    public string JwtIssuer { get; init; } = "https://issuer.example";

    public string JwtAudience { get; init; } = "scim-fast";

    public bool Baseline { get; init; }

    /// <summary>The baseline endpoint inside this process (as before 2026-12-07) instead of its own.</summary>
    public bool BaselineInProcess { get; init; }

    public string OutDirectory { get; init; } = Path.Combine("bench", "results", "load");

    public string? Label { get; init; }

    /// <summary>Event consumers of the events scenario: poll, push, sse.</summary>
    public string Consumers { get; init; } = "poll,push";

    /// <summary>Events scenario: the push receiver speaks HTTP/2 only (h2c with prior knowledge) instead of HTTP/1.1.</summary>
    public bool ReceiverHttp2 { get; init; }

    /// <summary>Events scenario: rounds of (without streams, with streams), interleaved.</summary>
    public int Rounds { get; init; } = 1;

    /// <summary>read: the userName prefix of users an initial-sync created (null: seed load- users).</summary>
    public string? UsersNamed { get; init; }

    public static LoadOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-'))
        {
            throw new ArgumentException("name a scenario first");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 1; i < args.Length; i++)
        {
            string name = args[i];
            if (!name.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected '{name}'");
            }

            if (name is "--baseline" or "--baseline-in-process" or "--allow-remote" or "--receiver-http2")
            {
                flags.Add(name);
                continue;
            }

            if (i + 1 >= args.Length)
            {
                throw new ArgumentException($"{name} needs a value");
            }

            values[name] = args[++i];
        }

        string Get(string name, string fallback) => values.Remove(name, out var value) ? value : fallback;
        int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

        var options = new LoadOptions
        {
            Scenario = args[0],
            Target = new Uri(Get("--target", "http://127.0.0.1:8080/scim/v2").TrimEnd('/')),
            Token = Get("--token", Environment.GetEnvironmentVariable("SCIM_TOKEN") ?? ""),
            Concurrency = Int("--concurrency", 32),
            Rate = values.ContainsKey("--rate") ? double.Parse(Get("--rate", "0"), CultureInfo.InvariantCulture) : null,
            WriteRate = double.Parse(Get("--write-rate", "0"), CultureInfo.InvariantCulture),
            Duration = TimeSpan.FromSeconds(double.Parse(Get("--duration", "20"), CultureInfo.InvariantCulture)),
            Requests = values.ContainsKey("--requests") ? long.Parse(Get("--requests", "0"), CultureInfo.InvariantCulture) : null,
            Warmup = TimeSpan.FromSeconds(double.Parse(Get("--warmup", "5"), CultureInfo.InvariantCulture)),
            Users = Int("--users", 100_000),
            Batch = Int("--batch", 0),
            Groups = Int("--groups", 100),
            Members = Int("--members", 100),
            BigGroup = Int("--big-group", 0),
            Op = Get("--op", "get"),
            Tenants = Int("--tenants", 10),
            JwtKey = values.ContainsKey("--jwt-key") ? Get("--jwt-key", "") : null,
            JwtIssuer = Get("--jwt-issuer", "https://issuer.example"),
            JwtAudience = Get("--jwt-audience", "scim-fast"),
            Baseline = flags.Contains("--baseline") || flags.Contains("--baseline-in-process"),
            BaselineInProcess = flags.Contains("--baseline-in-process"),
            OutDirectory = Get("--out", Path.Combine("bench", "results", "load")),
            Label = values.ContainsKey("--label") ? Get("--label", "") : null,
            Consumers = Get("--consumers", "poll,push"),
            ReceiverHttp2 = flags.Contains("--receiver-http2"),
            Rounds = Math.Max(1, Int("--rounds", 1)),
            UsersNamed = values.ContainsKey("--users-named") ? Get("--users-named", "") : null,
        };

        if (values.Count > 0)
        {
            throw new ArgumentException("unknown option(s): " + string.Join(", ", values.Keys));
        }

        if (!flags.Contains("--allow-remote") && !IsLoopback(options.Target))
        {
            throw new ArgumentException($"{options.Target} is not a loopback address: load tests target this machine only unless --allow-remote is given");
        }

        if (options.Concurrency < 1 || options.Rate is <= 0 || options.Users < 1 || options.WriteRate < 0)
        {
            throw new ArgumentException("--concurrency, --rate and --users must be positive");
        }

        return options;
    }

    private static bool IsLoopback(Uri target)
    {
        if (target.IsLoopback)
        {
            return true;
        }

        return IPAddress.TryParse(target.Host, out var address) && IPAddress.IsLoopback(address);
    }
}
