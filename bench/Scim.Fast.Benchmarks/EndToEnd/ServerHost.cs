using System.Text;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

using Scim.Fast.Server;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Benchmarks.EndToEnd;

/// <summary>
/// The server's request handler in process, over its real FASTER store in a temp directory, called
/// with a DefaultHttpContext (no sockets): routing, token check, store, serialization, response.
/// </summary>
internal sealed class ServerHost : IAsyncDisposable
{
    public const string Token = "benchmark-token-0123456789";

    private readonly WebApplication _app;
    private readonly string _directory;

    public ServerHost()
    {
        _directory = Path.Combine(Path.GetTempPath(), "scim-fast-bench-" + Guid.NewGuid().ToString("N"));
        // Relaxed durability: the benchmark measures the request path's CPU, not this disk's fsync.
        _app = ScimServer.Create(["--Scim:DataDirectory=" + _directory, "--Scim:BearerTokens:0=" + Token, "--Scim:Durability=Relaxed", "--Logging:LogLevel:Default=Warning"]);
        Handler = _app.Services.GetRequiredService<ScimRequestHandler>();
        Store = _app.Services.GetRequiredService<ResourceStore>();
    }

    public ScimRequestHandler Handler { get; }

    public ResourceStore Store { get; }

    public static DefaultHttpContext Context(string method, string pathAndQuery, Stream? body = null, Stream? response = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("127.0.0.1", 8080);
        int query = pathAndQuery.IndexOf('?', StringComparison.Ordinal);
        context.Request.Path = query < 0 ? pathAndQuery : pathAndQuery[..query];
        if (query >= 0)
        {
            context.Request.QueryString = new QueryString(pathAndQuery[query..]);
        }

        context.Request.Headers.Authorization = "Bearer " + Token;
        if (body is not null)
        {
            context.Request.ContentType = "application/scim+json";
            context.Request.Body = body;
        }

        context.Response.Body = response ?? Stream.Null;
        return context;
    }

    /// <summary>Sends one request and returns the status and body.</summary>
    public async Task<(int Status, string Body)> SendAsync(string method, string pathAndQuery, string? json = null)
    {
        var response = new MemoryStream();
        var context = Context(method, pathAndQuery, json is null ? null : new MemoryStream(Encoding.UTF8.GetBytes(json)), response);
        await Handler.HandleAsync(context);
        return (context.Response.StatusCode, Encoding.UTF8.GetString(response.ToArray()));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        await Store.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
