using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

using static Scim.Fast.Server.Tests.Events.EventStreamClient;
using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests.Events;

/// <summary>The events server with push over HTTP/2 only (Scim:Events:PushHttpVersion=2).</summary>
public sealed class Http2PushFixture : EventsFixture
{
    protected override IEnumerable<string> ExtraArguments => [.. base.ExtraArguments, "--Scim:Events:PushHttpVersion=2"];
}

/// <summary>
/// Which HTTP version push speaks (Scim:Events:PushHttpVersion): "2" carries a stream's SETs as
/// concurrent HTTP/2 streams on one connection, to a cleartext receiver with prior knowledge
/// (RFC 9113 §3.3), and delivers nothing to a receiver that speaks only HTTP/1.1; the default
/// speaks HTTP/1.1 to an http:// receiver (HTTP/2 is offered only through TLS's ALPN).
/// </summary>
public class PushHttpVersionTests(Http2PushFixture http2Server, EventsFixture defaultServer) : IClassFixture<Http2PushFixture>, IClassFixture<EventsFixture>
{
    [Fact]
    public async Task WithVersion2_EverySetArrivesOverHttp2_SeveralAtOnceOnOneConnection()
    {
        await using var receiver = await Recorder.StartAsync(HttpProtocols.Http2, delay: TimeSpan.FromMilliseconds(20));
        await CreatePushStreamAsync(http2Server, receiver.Url);

        var ids = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            ids.Add((await http2Server.Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("h2")))).Expect(HttpStatusCode.Created).Id);
        }

        foreach (string id in ids)
        {
            var patch = Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = "h2 " + id });
            (await http2Server.Client.Send(HttpMethod.Patch, Base + "/Users/" + id, patch)).Expect(HttpStatusCode.OK);
        }

        await receiver.WaitForAsync(ids.Count * 2, TimeSpan.FromSeconds(30));
        Assert.Equal(["HTTP/2"], receiver.Protocols.Distinct());
        Assert.Single(receiver.Connections.Distinct());
        Assert.True(receiver.MaxConcurrent >= 2, $"at most {receiver.MaxConcurrent} SET in flight");
        foreach (string id in ids)
        {
            Assert.Equal(["urn:ietf:params:scim:event:prov:create:notice", "urn:ietf:params:scim:event:prov:patch:notice"], receiver.EventsOf("/Users/" + id));
        }
    }

    [Fact]
    public async Task WithVersion2_AReceiverSpeakingOnlyHttp11_GetsNoRequest()
    {
        await using var receiver = await Recorder.StartAsync(HttpProtocols.Http1, delay: TimeSpan.Zero);
        await CreatePushStreamAsync(http2Server, receiver.Url);
        (await http2Server.Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("h1only")))).Expect(HttpStatusCode.Created);

        // The HTTP/2 preface is refused before any request: nothing is delivered (the stream
        // retries with backoff, as for any receiver that cannot be reached).
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Empty(receiver.Protocols);
    }

    [Fact]
    public async Task ByDefault_AnHttpReceiver_IsSpokenToInHttp11()
    {
        await using var receiver = await Recorder.StartAsync(HttpProtocols.Http1AndHttp2, delay: TimeSpan.Zero);
        await CreatePushStreamAsync(defaultServer, receiver.Url);
        string id = (await defaultServer.Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("h1")))).Expect(HttpStatusCode.Created).Id;

        await receiver.WaitForAsync(1, TimeSpan.FromSeconds(30));
        Assert.Equal(["HTTP/1.1"], receiver.Protocols.Distinct());
        Assert.Equal(["urn:ietf:params:scim:event:prov:create:notice"], receiver.EventsOf("/Users/" + id));
    }

    internal static async Task CreatePushStreamAsync(ScimServerFixture server, string url)
    {
        var body = new JsonObject
        {
            ["delivery"] = new JsonObject { ["method"] = "urn:ietf:rfc:8935", ["endpoint_url"] = url },
            ["events_requested"] = new JsonArray("urn:ietf:params:scim:event:prov:create:notice", "urn:ietf:params:scim:event:prov:patch:notice"),
        };
        (await server.Client.Send(HttpMethod.Post, Base + "/ssf/streams", body.ToJsonString(), mediaType: "application/json")).Expect(HttpStatusCode.Created);
    }

    /// <summary>A receiver that takes every SET with 202 and records the protocol and connection it came on.</summary>
    internal sealed class Recorder : IAsyncDisposable
    {
        private readonly ConcurrentQueue<(string Subject, string Event)> _accepted = new();
        private WebApplication? _app;
        private int _inFlight;

        public string Url { get; private set; } = "";

        public ConcurrentQueue<string> Protocols { get; } = new();

        public ConcurrentQueue<string> Connections { get; } = new();

        public int MaxConcurrent;

        public static async Task<Recorder> StartAsync(HttpProtocols protocols, TimeSpan delay, X509Certificate2? certificate = null)
        {
            var recorder = new Recorder();
            var (app, url) = await LoopbackReceiver.StartAsync(context => recorder.OnPostAsync(context, delay), protocols, certificate);
            recorder._app = app;
            recorder.Url = url;
            return recorder;
        }

        private async Task OnPostAsync(HttpContext context, TimeSpan delay)
        {
            LoopbackReceiver.InterlockedMax(ref MaxConcurrent, Interlocked.Increment(ref _inFlight));

            try
            {
                Protocols.Enqueue(context.Request.Protocol);
                Connections.Enqueue(context.Connection.Id);
                var claims = Claims(await new StreamReader(context.Request.Body).ReadToEndAsync());
                await Task.Delay(delay);
                _accepted.Enqueue((Subject(claims), EventUri(claims)));
                context.Response.StatusCode = 202;
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }

        /// <summary>The event URIs received for one subject, in arrival order.</summary>
        public List<string> EventsOf(string subject) => [.. _accepted.Where(a => a.Subject == subject).Select(a => a.Event)];

        public Task WaitForAsync(int count, TimeSpan timeout) => LoopbackReceiver.WaitForAsync(() => _accepted.Count, count, timeout);

        public async ValueTask DisposeAsync()
        {
            if (_app is not null)
            {
                await _app.DisposeAsync();
            }
        }
    }
}
