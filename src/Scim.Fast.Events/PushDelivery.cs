using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

using Microsoft.Extensions.Logging;

namespace Scim.Fast.Events;

/// <summary>
/// Push delivery of one stream (RFC 8935): each SET is POSTed as <c>application/secevent+jwt</c>,
/// in the stream's order, one at a time; any 2xx is delivered. A failure is retried with
/// exponential backoff and jitter (Retry-After honoured) until it succeeds — the stream waits
/// behind it, so order is kept — or the receiver answers 410 Gone (stream disabled). A 400 with
/// <c>err: invalid_request</c> settles that SET (the receiver will never take it). The cursor is
/// written to the store after deliveries (at least once: a crash resends what followed the last
/// write, with the same jti).
/// </summary>
public sealed class PushDelivery : IAsyncDisposable
{
    private static readonly MediaTypeHeaderValue s_setMediaType = new("application/secevent+jwt");

    private readonly StreamRegistry _registry;
    private readonly EventStream _stream;
    private readonly ILogger _logger;
    private readonly HttpClient _client;
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;

    public PushDelivery(StreamRegistry registry, EventStream stream, ILogger logger)
    {
        _registry = registry;
        _stream = stream;
        _logger = logger;
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AllowAutoRedirect = false,
            ConnectCallback = registry.Options.AllowPrivatePushTargets ? null : ConnectPublicOnlyAsync,
        };
        _client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(registry.Options.PushTimeoutSeconds) };
    }

    /// <summary>SETs delivered (2xx) since start.</summary>
    public long Delivered { get; private set; }

    public void Start() => _loop = Task.Run(LoopAsync);

    public void Wake()
    {
        lock (_stream.Gate)
        {
            _wake.TrySetResult();
        }
    }

    private async Task LoopAsync()
    {
        var batch = new List<OutgoingSet>(32);
        int failures = 0;
        long lastSave = Environment.TickCount64;
        while (!_stop.IsCancellationRequested)
        {
            Task wake;
            lock (_stream.Gate)
            {
                if (_wake.Task.IsCompleted)
                {
                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                wake = _wake.Task;
            }

            Task advanced = _registry.Feed.Advanced;
            try
            {
                batch.Clear();
                StreamRead read = default;
                if (_stream.Status == StreamStatus.Enabled)
                {
                    long cursor;
                    lock (_stream.Gate)
                    {
                        cursor = _stream.Cursor;
                    }

                    read = _registry.Read(_stream, cursor, 32, skipAcked: false, withControls: true, batch);
                }

                foreach (var set in batch)
                {
                    var outcome = await SendAsync(set).ConfigureAwait(false);
                    if (outcome.Retry is { } delay)
                    {
                        failures++;
                        var wait = Backoff(failures, delay);
                        _logger.LogWarning("Push of {Jti} to stream {Stream} failed ({Reason}); retry {Attempt} in {Delay}", set.Jti, _stream.Id, outcome.Reason, failures, wait);
                        await Task.Delay(wait, _stop.Token).ConfigureAwait(false);
                        break;
                    }

                    failures = 0;
                    if (outcome.Gone)
                    {
                        _logger.LogWarning("Push receiver of stream {Stream} answered 410 Gone: stream disabled", _stream.Id);
                        await _registry.SetStatusAsync(_stream, StreamStatus.Disabled, "the receiver answered 410 Gone", _stop.Token).ConfigureAwait(false);
                        break;
                    }

                    Settle(set);
                }

                if (batch.Count == 0 && read.ScannedTo > 0)
                {
                    _registry.SkipTo(_stream, read.ScannedTo);
                }

                if (Environment.TickCount64 - lastSave >= 200 || batch.Count == 0)
                {
                    await _registry.SaveCursorAsync(_stream, _stop.Token).ConfigureAwait(false);
                    lastSave = Environment.TickCount64;
                }

                if (batch.Count == 0)
                {
                    await Task.WhenAny(wake, advanced, Task.Delay(TimeSpan.FromSeconds(5), _stop.Token)).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Push delivery of stream {Stream} failed; retrying", _stream.Id);
                await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }
        }

        try
        {
            await _registry.SaveCursorAsync(_stream, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Saving the position of stream {Stream} at stop failed; its receiver may see some SETs again", _stream.Id);
        }
    }

    private void Settle(OutgoingSet set)
    {
        lock (_stream.Gate)
        {
            if (set.Position < 0)
            {
                _stream.Controls.RemoveAll(c => c.Jti == set.Jti);
            }
            else if (set.Position > _stream.Cursor)
            {
                _stream.Cursor = set.Position;
            }
        }

        Delivered++;
    }

    private readonly record struct Outcome(TimeSpan? Retry, bool Gone, string Reason);

    private async Task<Outcome> SendAsync(OutgoingSet set)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _stream.EndpointUrl);
        request.Content = new StringContent(set.Set, Encoding.ASCII);
        request.Content.Headers.ContentType = s_setMediaType;
        request.Headers.Accept.ParseAdd("application/json");
        if (_stream.AuthorizationHeader is { } authorization)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        if (_stream.WebhookSecret is { } secret)
        {
            AddWebhookSignature(request, set, secret);
        }

        try
        {
            using var response = await _client.SendAsync(request, _stop.Token).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                return new Outcome(null, false, "delivered");
            }

            if (status == 410)
            {
                return new Outcome(null, true, "gone");
            }

            if (status == 400)
            {
                // RFC 8935 §2.4: the receiver names why. invalid_request: this SET will never be taken.
                string err = await ErrorCodeAsync(response).ConfigureAwait(false);
                if (err == "invalid_request")
                {
                    _logger.LogWarning("Push receiver of stream {Stream} rejected {Jti} as invalid_request; skipped", _stream.Id, set.Jti);
                    return new Outcome(null, false, err);
                }

                return new Outcome(TimeSpan.Zero, false, "400 " + err);
            }

            return new Outcome(RetryAfter(response) ?? TimeSpan.Zero, false, status.ToString(CultureInfo.InvariantCulture));
        }
        catch (HttpRequestException e)
        {
            return new Outcome(TimeSpan.Zero, false, e.Message);
        }
        catch (TaskCanceledException) when (!_stop.IsCancellationRequested)
        {
            return new Outcome(TimeSpan.Zero, false, "timeout");
        }
    }

    private static async Task<string> ErrorCodeAsync(HttpResponseMessage response)
    {
        try
        {
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
            return document.RootElement.TryGetProperty("err", out var err) && err.ValueKind == JsonValueKind.String ? err.GetString()! : "";
        }
        catch (JsonException)
        {
            return "";
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is not { } retryAfter)
        {
            return null;
        }

        var delay = retryAfter.Delta ?? (retryAfter.Date is { } date ? date - DateTimeOffset.UtcNow : TimeSpan.Zero);
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : delay;
    }

    // 1 s, 2 s, 4 s … up to the maximum, ±20 % jitter; never shorter than the receiver's Retry-After.
    private TimeSpan Backoff(int failures, TimeSpan retryAfter)
    {
        double seconds = Math.Min(_registry.Options.MaxPushRetrySeconds, Math.Pow(2, Math.Min(failures - 1, 20)));
        seconds *= 0.8 + (Random.Shared.NextDouble() * 0.4);
        var backoff = TimeSpan.FromSeconds(seconds);
        return retryAfter > backoff ? retryAfter : backoff;
    }

    // Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature = v1,base64(HMAC-SHA256(secret, id.timestamp.body)).
    private static void AddWebhookSignature(HttpRequestMessage request, OutgoingSet set, string secret)
    {
        string timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        byte[] key = Convert.FromBase64String(secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret[6..] : secret);
        byte[] signature = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(set.Jti + "." + timestamp + "." + set.Set));
        request.Headers.TryAddWithoutValidation("webhook-id", set.Jti);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp);
        request.Headers.TryAddWithoutValidation("webhook-signature", "v1," + Convert.ToBase64String(signature));
    }

    // SSRF guard: the receiver's name must resolve to public addresses only, and the connection goes
    // to the address checked (no second lookup an attacker's DNS could answer differently).
    private static async ValueTask<Stream> ConnectPublicOnlyAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var addresses = await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancellationToken).ConfigureAwait(false);
        foreach (var address in addresses)
        {
            if (!IsPublic(address))
            {
                throw new HttpRequestException($"Push target {context.DnsEndPoint.Host} resolves to a non-public address; refused (Scim:Events:AllowPrivatePushTargets).");
            }
        }

        if (addresses.Length == 0)
        {
            throw new HttpRequestException($"Push target {context.DnsEndPoint.Host} does not resolve.");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(addresses[0], context.DnsEndPoint.Port), cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Whether an address is a public unicast one (not loopback, link-local, private, unique-local, multicast or unspecified).</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            byte[] b = address.GetAddressBytes();
            return !(b[0] == 10 || b[0] == 0 || b[0] >= 224
                || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254)
                || (b[0] == 100 && b[1] >= 64 && b[1] <= 127));
        }

        return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || address.IsIPv6UniqueLocal);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _client.Dispose();
        _stop.Dispose();
    }
}
