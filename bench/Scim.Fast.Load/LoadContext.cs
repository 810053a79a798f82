using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;

using HdrHistogram;

namespace Scim.Fast.Load;

/// <summary>One HTTP response as a scenario sees it.</summary>
internal readonly record struct Reply(int Status, byte[] Body, string? ETag = null)
{
    public JsonNode? Json => Body.Length == 0 ? null : JsonNode.Parse(Body);

    /// <summary>The version in the ETag header (W/"n", RFC 7644 §3.14), or -1.</summary>
    public long Version => ParseVersion(ETag);

    public static long ParseVersion(string? etag) =>
        etag is { Length: > 4 } && etag.StartsWith("W/\"", StringComparison.Ordinal) && long.TryParse(etag.AsSpan(3, etag.Length - 4), out long version) ? version : -1;
}

/// <summary>
/// What scenarios use to talk to the target: timed requests (a latency histogram per request kind),
/// error counts by status, and a sample of each kind's response for the bare-Kestrel baseline.
/// </summary>
internal sealed class LoadContext : IDisposable
{
    /// <summary>Request header naming the request kind, so the baseline server can answer in kind.</summary>
    public const string KindHeader = "X-Load-Kind";

    private readonly ConcurrentDictionary<string, Recorder> _kinds = new(StringComparer.Ordinal);

    public LoadContext(LoadOptions options, Uri target, bool baselineMode)
    {
        Options = options;
        Target = target;
        BaselineMode = baselineMode;
        Http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = Math.Max(options.Concurrency, 1),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        })
        {
            Timeout = TimeSpan.FromSeconds(120),
        };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
    }

    public LoadOptions Options { get; }

    /// <summary>The SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2.</summary>
    public Uri Target { get; }

    /// <summary>Against the baseline the bodies are canned: scenarios skip checks that need real data.</summary>
    public bool BaselineMode { get; }

    public HttpClient Http { get; }

    /// <summary>Whether requests are recorded (false during warm-up and set-up).</summary>
    public bool Measuring { get; set; }

    /// <summary>Failures by cause ("409", "check: …", "exception: …").</summary>
    public ConcurrentDictionary<string, long> Errors { get; } = new(StringComparer.Ordinal);

    /// <summary>First successful response of each kind: the baseline serves these bytes.</summary>
    public ConcurrentDictionary<string, (int Status, byte[] Body)> Samples { get; } = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, Recorder> Kinds => _kinds;

    public Task<Reply> SendAsync(string kind, HttpMethod method, string pathAndQuery, string? json = null, string? token = null, CancellationToken cancellationToken = default) =>
        SendAsync(kind, method, pathAndQuery, json is null ? null : new StringContent(json, System.Text.Encoding.UTF8), token, cancellationToken);

    /// <summary>A request whose JSON body is already UTF-8 (the big /Bulk bodies: no string in between).</summary>
    public Task<Reply> SendUtf8Async(string kind, HttpMethod method, string pathAndQuery, ReadOnlyMemory<byte> json, string? token = null, CancellationToken cancellationToken = default) =>
        SendAsync(kind, method, pathAndQuery, new ReadOnlyMemoryContent(json), token, cancellationToken);

    private async Task<Reply> SendAsync(string kind, HttpMethod method, string pathAndQuery, HttpContent? content, string? token, CancellationToken cancellationToken)
    {
        // Relative to the target's base URL, or absolute (a named tenant's base URL: against the
        // baseline, the same path on the baseline's host).
        string url;
        if (!pathAndQuery.StartsWith("http", StringComparison.Ordinal))
        {
            url = Target + pathAndQuery;
        }
        else
        {
            url = BaselineMode ? Target.GetLeftPart(UriPartial.Authority) + new Uri(pathAndQuery).PathAndQuery : pathAndQuery;
        }

        using var request = new HttpRequestMessage(method, url);
        request.Headers.TryAddWithoutValidation(KindHeader, kind);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (content is not null)
        {
            request.Content = content;
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/scim+json");
        }

        long started = Stopwatch.GetTimestamp();
        using var response = await Http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        long micros = (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        int status = (int)response.StatusCode;
        if (Measuring)
        {
            Recorder(kind).RecordValue(Math.Clamp(micros, 1, 60_000_000));
        }

        if (status < 400)
        {
            Samples.TryAdd(kind, (status, body));
        }

        return new Reply(status, body, response.Headers.ETag?.ToString());
    }

    /// <summary>Counts an error; during warm-up under its own name, so a run that failed while warming up says so.</summary>
    public void CountError(string cause) =>
        Errors.AddOrUpdate(Measuring ? cause : "during warm-up: " + cause, 1, static (_, n) => n + 1);

    public Recorder Recorder(string kind) => _kinds.GetOrAdd(kind, static _ => NewRecorder());

    // Workers record into one recorder concurrently: the histogram behind it must take concurrent
    // increments (LongHistogram lost counts, and its total then disagreed with its buckets, so reading
    // the interval's maximum threw mid-run).
    public static Recorder NewRecorder() =>
        new(1, 60_000_000, 3, static (id, low, high, digits) => new LongConcurrentHistogram(id, low, high, digits));

    public void Dispose() => Http.Dispose();
}
