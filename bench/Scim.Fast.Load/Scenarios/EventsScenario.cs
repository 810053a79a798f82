using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

using HdrHistogram;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// SCIM events under write load (issue 15): PATCHes of seeded users (displayName, Entra's
/// attribute update), first with no event stream, then with the consumers attached — an RFC 8936
/// poller (long poll, acknowledging each batch), an RFC 8935 push receiver (a Kestrel endpoint in
/// this process; the server needs <c>--Scim:Events:AllowPrivatePushTargets=true</c>), and
/// optionally an SSE reader. Each consumer's delivery lag is measured per event, from the moment
/// the write's response reached this client (its acknowledgement) to the moment the consumer
/// received the SET that names the same resource and version. Every acknowledged write must
/// reach every consumer; the missing ones are reported as errors.
/// </summary>
internal sealed class EventsScenario : IScenario, IAsyncDisposable
{
    private static readonly string[] s_events = ["urn:ietf:params:scim:event:prov:patch:full"];

    private readonly string _run;
    private readonly bool _receiverHttp2;
    private readonly List<Consumer> _consumers = [];
    private readonly List<string> _streams = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private CancellationTokenSource _round = new();
    private volatile bool _attached;
    private long _writes;
    private WebApplication? _receiver;
    private string? _receiverUrl;
    private string[] _ids = [];

    public EventsScenario(string run, bool receiverHttp2 = false)
    {
        _run = run;
        _receiverHttp2 = receiverHttp2;
    }

    public IReadOnlyList<Consumer> Consumers => _consumers;

    public async Task SetupAsync(LoadContext context, CancellationToken cancellationToken) =>
        _ids = await Seed.UsersAsync(context, context.Options.Users, cancellationToken).ConfigureAwait(false);

    public async Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken)
    {
        int i = (int)((ulong)(sequence * 2654435761L) % (ulong)_ids.Length);

        // A value no earlier write set: each run's sequences start at 0 again, and a PATCH that
        // sets what a user already holds changes nothing (no write, no event), so the second run
        // of a pair repeated the first's values and measured no-ops as writes.
        long write = Interlocked.Increment(ref _writes);
        var reply = await context.SendAsync("PATCH /Users/{id}", HttpMethod.Patch, "/Users/" + _ids[i],
            "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Event " + _run + " " + write + "\"}]}",
            cancellationToken: cancellationToken).ConfigureAwait(false);
        long acknowledged = Stopwatch.GetTimestamp();
        if (reply.Status != 200)
        {
            return ReadScenario.Check(context, false, reply.Status);
        }

        if (context.Measuring && _attached)
        {
            string key = "/Users/" + _ids[i] + "|" + reply.Version;
            foreach (var consumer in _consumers)
            {
                consumer.Acknowledged(key, acknowledged);
            }
        }

        return true;
    }

    /// <summary>
    /// Creates the streams and starts their consumers (after the run without them). A later round
    /// keeps each kind's consumer (and the push receiver) and gives it a new stream.
    /// </summary>
    public async Task AttachAsync(LoadContext context, string consumers, CancellationToken cancellationToken)
    {
        _round = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var round = _round.Token;
        foreach (string kind in consumers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var consumer = _consumers.Find(c => c.Name == kind);
            bool added = consumer is null;
            consumer ??= new Consumer(kind);
            switch (kind)
            {
                case "poll":
                {
                    var stream = await CreateStreamAsync(context, new JsonObject { ["method"] = "urn:ietf:rfc:8936" }, cancellationToken).ConfigureAwait(false);
                    _loops.Add(Task.Run(() => PollAsync(context, (string)stream["delivery"]!["endpoint_url"]!, consumer, round)));
                    break;
                }

                case "push":
                {
                    _receiverUrl ??= await StartReceiverAsync(consumer).ConfigureAwait(false);
                    await CreateStreamAsync(context, new JsonObject { ["method"] = "urn:ietf:rfc:8935", ["endpoint_url"] = _receiverUrl }, cancellationToken).ConfigureAwait(false);
                    break;
                }

                case "sse":
                {
                    var stream = await CreateStreamAsync(context, new JsonObject { ["method"] = "urn:ietf:rfc:8936" }, cancellationToken).ConfigureAwait(false);
                    _loops.Add(Task.Run(() => ServerSentEventsAsync(context, context.Target + "/ssf/sse/" + (string)stream["stream_id"]!, consumer, round)));
                    break;
                }

                default:
                    throw new ArgumentException($"unknown consumer '{kind}' (poll, push, sse)");
            }

            if (added)
            {
                _consumers.Add(consumer);
            }
        }

        _attached = true;
    }

    /// <summary>Deletes the round's streams and stops its poll and SSE loops (the consumers keep what they received).</summary>
    public async Task DetachAsync(LoadContext context)
    {
        // Loops first, so no poll meets its stream deleted (and counts an error that is not one).
        _attached = false;
        await _round.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _loops.Clear();
        _round.Dispose();
        await DeleteStreamsAsync(context).ConfigureAwait(false);
    }

    /// <summary>Waits until no consumer has received anything for a second (or the timeout).</summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        long last = -1;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            long received = 0;
            foreach (var consumer in _consumers)
            {
                received += consumer.ReceivedCount;
            }

            if (received == last)
            {
                return;
            }

            last = received;
            await Task.Delay(1000).ConfigureAwait(false);
        }
    }

    private async Task<JsonObject> CreateStreamAsync(LoadContext context, JsonObject delivery, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["delivery"] = delivery, ["events_requested"] = new JsonArray([.. s_events.Select(e => (JsonNode)e)]) };
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await context.Http.PostAsync(context.Target + "/ssf/streams", content, cancellationToken).ConfigureAwait(false);
        string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if ((int)response.StatusCode != 201)
        {
            throw new HttpRequestException($"creating a {delivery["method"]} stream answered {(int)response.StatusCode}: {text} (push to this process needs the server's --Scim:Events:AllowPrivatePushTargets=true)");
        }

        var stream = JsonNode.Parse(text)!.AsObject();
        _streams.Add((string)stream["stream_id"]!);
        return stream;
    }

    // RFC 8936: long polls, each acknowledging the batch before.
    private static async Task PollAsync(LoadContext context, string url, Consumer consumer, CancellationToken stop)
    {
        var ack = new JsonArray();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                // A copy: after a failed request the same acknowledgements are sent again, and a
                // node already in the failed request's body cannot join another.
                var body = new JsonObject { ["returnImmediately"] = false, ["maxEvents"] = 1000, ["ack"] = ack.DeepClone() };
                using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
                using var response = await context.Http.PostAsync(url, content, stop).ConfigureAwait(false);
                var reply = JsonNode.Parse(await response.Content.ReadAsStringAsync(stop).ConfigureAwait(false))!;
                long received = Stopwatch.GetTimestamp();
                ack = [];
                foreach (var (jti, set) in reply["sets"]!.AsObject())
                {
                    consumer.Received((string)set!, received);
                    ack.Add(jti);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or System.Text.Json.JsonException)
            {
                consumer.Errors++;
                await Task.Delay(100).ConfigureAwait(false);
            }
        }
    }

    // Server-sent events: one long response; every data line is a SET.
    private static async Task ServerSentEventsAsync(LoadContext context, string url, Consumer consumer, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
                using var response = await context.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop).ConfigureAwait(false);
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop).ConfigureAwait(false));
                while (await reader.ReadLineAsync(stop).ConfigureAwait(false) is { } line)
                {
                    if (line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        consumer.Received(line[6..], Stopwatch.GetTimestamp());
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                consumer.Errors++;
                await Task.Delay(100).ConfigureAwait(false);
            }
        }
    }

    // RFC 8935 receiver: any SET posted is taken with 202.
    private async Task<string> StartReceiverAsync(Consumer consumer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        if (_receiverHttp2)
        {
            // Cleartext HTTP/2 needs an HTTP/2-only endpoint: Kestrel answers a prior-knowledge
            // preface on an HTTP/1.1-and-2 cleartext endpoint with HTTP_1_1_REQUIRED.
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(listen => listen.Protocols = HttpProtocols.Http2));
        }

        var app = builder.Build();
        app.MapPost("/events", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            string set = await reader.ReadToEndAsync().ConfigureAwait(false);
            consumer.Received(set, Stopwatch.GetTimestamp());
            http.Response.StatusCode = 202;
        });
        await app.StartAsync().ConfigureAwait(false);
        _receiver = app;
        return app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single() + "/events";
    }

    // "/Users/{id}|{version}" from a SET's sub_id and its event's version (the ETag).
    private static string KeyOf(string set)
    {
        string payload = set.Split('.')[1].Replace('-', '+').Replace('_', '/');
        payload += new string('=', (4 - (payload.Length % 4)) % 4);
        var claims = JsonNode.Parse(Convert.FromBase64String(payload))!;
        string version = (string)claims["events"]!.AsObject().Single().Value!["version"]!;
        return (string)claims["sub_id"]!["uri"]! + "|" + Reply.ParseVersion(version);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (_receiver is not null)
        {
            await _receiver.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    /// <summary>Deletes the streams this run created (SSF §8.1.1.5).</summary>
    public async Task DeleteStreamsAsync(LoadContext context)
    {
        foreach (string id in _streams)
        {
            using var _ = await context.Http.DeleteAsync(context.Target + "/ssf/streams?stream_id=" + id).ConfigureAwait(false);
        }

        _streams.Clear();
    }

    /// <summary>
    /// One consumer's deliveries. Receiving only keeps the SET and the time it came (cheap: the
    /// consumers share this machine's cores with the server); after the run each SET is matched to
    /// its write's acknowledgement by subject and version. A SET can beat the write's response (the
    /// feed follows the durable log, the response follows the apply): that lag counts as 0.
    /// </summary>
    internal sealed class Consumer(string name)
    {
        private readonly ConcurrentDictionary<string, long> _acknowledged = new(StringComparer.Ordinal);
        private readonly ConcurrentQueue<(string Set, long At)> _received = new();

        // SETs taken off the queue with their write's key, each parsed once (between rounds and at the end).
        private readonly List<(string Key, long At)> _keyed = [];
        private LongHistogram? _lag;

        public string Name { get; } = name;

        public long Errors;

        public long AcknowledgedWrites => _acknowledged.Count;

        public long ReceivedCount => _received.Count + _keyed.Count;

        public long Missing { get; private set; }

        public long Duplicates { get; private set; }

        public void Acknowledged(string key, long timestamp) => _acknowledged[key] = timestamp;

        public void Received(string set, long timestamp) => _received.Enqueue((set, timestamp));

        /// <summary>
        /// Acknowledged writes whose SET came after <paramref name="timestamp"/> (the measured run's
        /// end): the delivery backlog the run left behind.
        /// </summary>
        public long ReceivedAfter(long timestamp)
        {
            Settle();
            long owed = 0;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (key, at) in _keyed)
            {
                if (at > timestamp && _acknowledged.ContainsKey(key) && seen.Add(key))
                {
                    owed++;
                }
            }

            return owed;
        }

        /// <summary>Matches SETs to acknowledged writes (once, after the run).</summary>
        public HistogramBase Lag()
        {
            if (_lag is not null)
            {
                return _lag;
            }

            Settle();
            _lag = new LongHistogram(60_000_000, 3);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (key, at) in _keyed)
            {
                if (!_acknowledged.TryGetValue(key, out long acknowledged))
                {
                    continue; // a write of the warm-up
                }

                if (!seen.Add(key))
                {
                    Duplicates++;
                    continue;
                }

                long micros = at > acknowledged ? Stopwatch.GetElapsedTime(acknowledged, at).Ticks / 10 : 0;
                _lag.RecordValue(Math.Clamp(micros, 1, 60_000_000));
            }

            Missing = _acknowledged.Count - seen.Count;
            return _lag;
        }

        // Called between runs only (receiving just queues: the consumers share the server's cores).
        private void Settle()
        {
            while (_received.TryDequeue(out var received))
            {
                _keyed.Add((KeyOf(received.Set), received.At));
            }
        }
    }
}
