using Scim.Fast.Tests.Shared;

namespace Scim.Fast.Chaos.Tests;

/// <summary>The server as its own process, with the chaos suite's short deadline and no rate limits.</summary>
internal sealed class ChaosServer : ServerProcess
{
    public const string Token = "chaos-token-0123456789abcdef";

    private ChaosServer(System.Diagnostics.Process process)
        : base(process)
    {
    }

    public static Task<ChaosServer> StartAsync(string dataDirectory) => StartAsync(process => new ChaosServer(process), ServerPath(),
    [
        "--Scim:DataDirectory=" + dataDirectory, "--Scim:BearerTokens:0=" + Token, "--Logging:LogLevel:Default=Warning",
        "--Logging:Console:FormatterName=simple", "--Scim:CheckpointIntervalSeconds=2", "--Scim:Limits:RequestTimeoutSeconds=3",
        "--Scim:Limits:RequestsPerSecondPerToken=0", "--Scim:Limits:BodyGraceSeconds=30", "--Scim:Limits:MinBodyBytesPerSecond=1",
        "--Scim:Limits:FailedAuthenticationsPerMinutePerAddress=0",
    ]);

    public HttpClient Client(TimeSpan? timeout = null) => Client(Token, timeout);

    // Another build of the server (SCIM_CHAOS_SERVER, e.g. an older commit) tells regressions from old faults.
    private static string ServerPath() =>
        Environment.GetEnvironmentVariable("SCIM_CHAOS_SERVER") is { Length: > 0 } other ? other : BuiltServerPath();
}
