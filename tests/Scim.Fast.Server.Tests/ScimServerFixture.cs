using System.Net.Http.Headers;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Tests;

/// <summary>The same server on the Redis backend (issue 16): the suites that take it run on both.</summary>
public sealed class RedisScimServerFixture : ScimServerFixture
{
    protected override bool OnRedis => true;
}

/// <summary>
/// The real server on 127.0.0.1 with an OS-chosen port and its real FASTER store in a temp
/// directory, spoken to over HTTP. <see cref="Client"/> carries the default tenant's token.
/// </summary>
public class ScimServerFixture : IAsyncLifetime
{
    public const string Token = "test-token-default-0123456789";
    public const string AcmeToken = "test-token-acme-0123456789abc";
    public const string GlobexToken = "test-token-globex-0123456789ab";

    private WebApplication? _app;

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "scim-fast-server-" + Guid.NewGuid().ToString("N"));

    public HttpClient Client { get; private set; } = null!;

    /// <summary>No Authorization header.</summary>
    public HttpClient Anonymous { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Extra command-line settings for a derived fixture.</summary>
    protected virtual IEnumerable<string> ExtraArguments => [];

    /// <summary>Whether this server runs on the Redis backend (the shared test cluster) instead of the embedded store.</summary>
    protected virtual bool OnRedis => false;

    /// <summary>The key prefix this server's data has in the shared cluster (each Redis fixture its own).</summary>
    public string RedisKeyPrefix { get; } = "t" + Guid.NewGuid().ToString("N")[..12] + ":";

    public IResourceStore Store => _app!.Services.GetRequiredService<IResourceStore>();

    /// <summary>The embedded store, for tests of what only it has (checkpoints, its read counters).</summary>
    public ResourceStore EmbeddedStore => _app!.Services.GetRequiredService<ResourceStore>();

    internal ScimRequestHandler Handler => _app!.Services.GetRequiredService<ScimRequestHandler>();

    public virtual async Task InitializeAsync() => await StartAsync();

    public async Task StartAsync()
    {
        string[] backend = [];
        if (OnRedis)
        {
            var cluster = await RedisCluster.Shared;
            backend = ["--Scim:Store=Redis", "--Scim:Redis:Configuration=" + cluster.Configuration, "--Scim:Redis:KeyPrefix=" + RedisKeyPrefix];
        }

        _app = ScimServer.Create([
            "--urls", "http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--Scim:DataDirectory=" + DataDirectory,
            "--Scim:BearerTokens:0=" + Token,
            "--Scim:Tenants:acme:BearerTokens:0=" + AcmeToken,
            "--Scim:Tenants:globex:BearerTokens:0=" + GlobexToken,
            .. backend,
            .. ExtraArguments,
        ]);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        BaseAddress = new Uri(address);
        Client = CreateClient(Token);
        Anonymous = new HttpClient { BaseAddress = BaseAddress };
    }

    public HttpClient CreateClient(string token)
    {
        var client = new HttpClient { BaseAddress = BaseAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>Graceful stop then start on the same data directory (a restart).</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    public async Task StopAsync()
    {
        Client?.Dispose();
        Anonymous?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    public virtual async Task DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A server of its own (a store holding only its test class's resources), without a request rate limit.</summary>
public class UnthrottledServerFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments => ["--Scim:Limits:RequestsPerSecondPerToken=0"];
}
