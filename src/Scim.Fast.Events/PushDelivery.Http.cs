using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Scim.Fast.Events;

/// <summary>
/// The HTTP side of push delivery: one POST per SET (RFC 8935 §2), how its answer is classified
/// (delivered, settled, gone, failed for this subject or for the whole receiver), the backoff,
/// Standard Webhooks signatures and the SSRF guard on connections.
/// </summary>
public sealed partial class PushDelivery
{
    private async Task<Outcome> SendAsync(OutgoingSet set, string jws)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _stream.EndpointUrl) { Version = _version, VersionPolicy = _versionPolicy };
        request.Content = new StringContent(jws, Encoding.ASCII);
        request.Content.Headers.ContentType = s_setMediaType;
        request.Headers.Accept.ParseAdd("application/json");
        if (_stream.AuthorizationHeader is { } authorization)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        if (_stream.WebhookSecret is { } secret)
        {
            AddWebhookSignature(request, set.Jti, jws, secret);
        }

        try
        {
            using var response = await _client.SendAsync(request, _stop.Token).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                return new Outcome(null, false, false, "delivered");
            }

            if (status == 410)
            {
                return new Outcome(null, true, true, "gone");
            }

            if (status == 400)
            {
                // RFC 8935 §2.4: the receiver names why. invalid_request: this SET will never be
                // taken. The others (invalid_key, invalid_issuer, invalid_audience,
                // authentication_failed, access_denied) are about the stream, not the SET.
                string err = await ErrorCodeAsync(response).ConfigureAwait(false);
                if (err == "invalid_request")
                {
                    _logger.LogWarning("Push receiver of stream {Stream} rejected {Jti} as invalid_request; skipped", _stream.Id, set.Jti);
                    return new Outcome(null, false, false, err);
                }

                return new Outcome(TimeSpan.Zero, false, true, "400 " + err);
            }

            bool receiverWide = status is 401 or 403 or 408 or 429 or 502 or 503 or 504;
            return new Outcome(RetryAfter(response) ?? TimeSpan.Zero, false, receiverWide, status.ToString(CultureInfo.InvariantCulture));
        }
        catch (HttpRequestException e)
        {
            return new Outcome(TimeSpan.Zero, false, true, e.Message);
        }
        catch (TaskCanceledException) when (!_stop.IsCancellationRequested)
        {
            return new Outcome(TimeSpan.Zero, false, true, "timeout");
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
    private static void AddWebhookSignature(HttpRequestMessage request, string jti, string jws, string secret)
    {
        string timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        byte[] key = Convert.FromBase64String(secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret[6..] : secret);
        byte[] signature = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(jti + "." + timestamp + "." + jws));
        request.Headers.TryAddWithoutValidation("webhook-id", jti);
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

    // An https receiver's certificate: valid by the system's roots, or (PushTrustedCertificatesFile)
    // through a chain ending at one of the configured certificates. A wrong host name fails either
    // way. Revocation is not checked on the configured chain: a private CA often publishes no list.
    private static RemoteCertificateValidationCallback TrustAlso(X509Certificate2Collection trusted) =>
        (_, certificate, chain, errors) =>
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is not X509Certificate2 leaf)
            {
                return false;
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(trusted);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (chain is not null)
            {
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            return custom.Build(leaf);
        };

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
}
