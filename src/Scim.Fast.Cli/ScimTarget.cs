using System.Buffers;
using System.Net.Http.Headers;
using System.Security.Cryptography;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

using Scim.Fast.Server;
using Scim.Fast.Server.Protocol;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Cli;

/// <summary>
/// Where a command works: a running server (<c>--target URL --token T --admin-token A</c>), or a data
/// directory (<c>--data DIR</c>, the server stopped) served for the command's duration by the
/// server's own pipeline on a private loopback port, with one-time tokens held in memory (nothing
/// in the directory's configuration or tokens changes). Both speak the same HTTP API, so a command
/// has one code path; offline writes go through /Bulk and the store's batch path like any import.
/// </summary>
internal sealed class ScimTarget : IAsyncDisposable
{
    private readonly WebApplication? _embedded;

    private ScimTarget(HttpClient scim, HttpClient admin, WebApplication? embedded)
    {
        Scim = scim;
        Admin = admin;
        _embedded = embedded;
    }

    /// <summary>The tenant's SCIM base URL (…/scim/v2/), with its token.</summary>
    public HttpClient Scim { get; }

    /// <summary>The server root, with the admin token (/admin/…).</summary>
    public HttpClient Admin { get; }

    /// <summary>
    /// Offline only: creates a batch of users through the server's own batch-create path (what
    /// /Bulk runs for consecutive POSTs: the same checks, index entries and one durable commit per
    /// batch), handed the bodies' bytes as they are, without HTTP. Null for a running server.
    /// </summary>
    public Func<IReadOnlyList<ReadOnlySequence<byte>>, CancellationToken, ValueTask<BulkOperationResult[]>>? DirectUserCreates { get; private init; }

    public static async Task<ScimTarget> OpenAsync(string? dataDirectory, Uri? target, string? token, string? adminToken, string tenant)
    {
        if (dataDirectory is not null)
        {
            if (!Directory.Exists(Path.Combine(dataDirectory, "store")))
            {
                throw new ToolException($"{dataDirectory} holds no Scim.Fast store (no 'store' folder).", exitCode: 2);
            }

            return await OpenOrCreateAsync(dataDirectory, tenant).ConfigureAwait(false);
        }

        if (target is null)
        {
            throw new ToolException("Say where: --data DIR (offline, the server stopped) or --target URL (a running server).", exitCode: 2);
        }

        var root = new Uri(target.GetLeftPart(UriPartial.Authority) + "/");
        var scimBase = new Uri(target.ToString().TrimEnd('/') + "/");
        return new ScimTarget(Client(scimBase, token), Client(root, adminToken), embedded: null);
    }

    /// <summary>An embedded server over a directory that may be empty (import into a new store).</summary>
    public static async Task<ScimTarget> OpenOrCreateAsync(string dataDirectory, string tenant)
    {
        string tenantPath = tenant == "default" ? "" : "/tenants/" + Uri.EscapeDataString(tenant);
        string token = "tool_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        string adminToken = "tool_admin_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        var app = ScimServer.Create(
            [
                "--urls", "http://127.0.0.1:0",
                "--Scim:DataDirectory=" + Path.GetFullPath(dataDirectory),
                "--Logging:LogLevel:Default=Warning",
                "--Logging:LogLevel:Scim.Fast.Requests=Warning",
                "--Logging:LogLevel:Scim.Fast.Server=Warning",
                "--Scim:Limits:RequestsPerSecondPerToken=0",
                "--Scim:Limits:RequestTimeoutSeconds=0",
                "--Scim:Metrics:Enabled=false",
            ],
            configure: null,
            toolTokens: [(tenant == "default" ? null : tenant, token), (BearerTokens.AdminTenant, adminToken)]);
        await app.StartAsync().ConfigureAwait(false);
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First());
        var scimBase = new Uri(address, tenantPath + "/scim/v2/");
        var handler = app.Services.GetRequiredService<ScimRequestHandler>();
        var scope = new ScimScope(tenant == "default" ? TenantId.Default : await handler.Tenants.GetOrAddAsync(tenant).ConfigureAwait(false), scimBase.ToString().TrimEnd('/'));
        return new ScimTarget(Client(scimBase, token), Client(address, adminToken), app)
        {
            DirectUserCreates = (bodies, cancel) => handler.Users.ExecuteBulkCreatesAsync(scope, bodies, cancel),
        };
    }

    private static HttpClient Client(Uri baseAddress, string? token)
    {
        var client = new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Scim.Dispose();
        Admin.Dispose();
        if (_embedded is not null)
        {
            // A graceful stop: the server takes its last checkpoint and closes the store.
            await _embedded.StopAsync().ConfigureAwait(false);
            await _embedded.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>A failure the tool reports in one line, with its exit code.</summary>
internal sealed class ToolException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
