using System.Security.Cryptography.X509Certificates;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Scim.Fast.Server.Tests.Events;

/// <summary>A push receiver's HTTP side in tests: a Kestrel app on 127.0.0.1 answering POST /events.</summary>
internal static class LoopbackReceiver
{
    /// <param name="onPost">What POST /events does.</param>
    /// <param name="protocols">What the endpoint speaks (cleartext HTTP/2 needs Http2 alone: prior knowledge).</param>
    /// <param name="certificate">With one: https with this certificate (HTTP/2 offered by ALPN).</param>
    public static async Task<(WebApplication App, string Url)> StartAsync(RequestDelegate onPost, HttpProtocols protocols = HttpProtocols.Http1AndHttp2, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(certificate is null ? "http://127.0.0.1:0" : "https://127.0.0.1:0");
        if (certificate is not null)
        {
            builder.WebHost.UseKestrelHttpsConfiguration();
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ConfigureEndpointDefaults(listen => listen.Protocols = protocols);
            if (certificate is not null)
            {
                kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate);
            }
        });
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPost("/events", onPost);
        await app.StartAsync();
        return (app, app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single() + "/events");
    }

    /// <summary>Raises <paramref name="target"/> to <paramref name="value"/> if that is more (the most requests in flight at once).</summary>
    public static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    /// <summary>Waits until a receiver has accepted <paramref name="count"/> SETs, and fails the test if the timeout passes first.</summary>
    public static async Task WaitForAsync(Func<int> accepted, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (accepted() < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(accepted() >= count, $"{accepted()} of {count} SETs accepted in {timeout.TotalSeconds} s");
    }
}
