using System.Collections.Concurrent;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Scim.Fast.Load;

/// <summary>
/// The bare-HTTP ceiling: a Kestrel endpoint on loopback that answers every request with the bytes
/// the real server gave for a request of the same kind (recorded during the real run), doing no
/// other work. Throughput against it is what Kestrel, the network stack and this client manage on
/// this machine; the real server's throughput is reported as a fraction of it.
/// </summary>
internal sealed class BaselineServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private BaselineServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public static async Task<BaselineServer> StartAsync(ConcurrentDictionary<string, (int Status, byte[] Body)> samples)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        var app = builder.Build();
        app.Run(async context =>
        {
            // Read the request body as the real server would, then answer with the recorded bytes.
            var reader = context.Request.BodyReader;
            while (true)
            {
                var read = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
                reader.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }

            string kind = context.Request.Headers[LoadContext.KindHeader].ToString();
            if (!samples.TryGetValue(kind, out var sample))
            {
                sample = (200, "{}"u8.ToArray());
            }

            context.Response.StatusCode = sample.Status;
            if (sample.Body.Length > 0)
            {
                context.Response.ContentType = "application/scim+json; charset=utf-8";
                await context.Response.BodyWriter.WriteAsync(sample.Body, context.RequestAborted).ConfigureAwait(false);
            }
        });
        await app.StartAsync().ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new BaselineServer(app, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
