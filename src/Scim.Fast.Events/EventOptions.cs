using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Scim.Fast.Events;

/// <summary>Settings of SCIM events (the Scim:Events section).</summary>
public sealed class EventOptions
{
    /// <summary>Whether writes record their change and streams may be created. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long the change feed keeps entries (a reader further behind must resync). Default 14 days.</summary>
    public double RetentionDays { get; set; } = 14;

    /// <summary>Most streams per tenant. Default 16.</summary>
    public int MaxStreamsPerTenant { get; set; } = 16;

    /// <summary>Longest a poll without returnImmediately waits for events (RFC 8936 §2.4 long poll). Default 10 s.</summary>
    public int MaxPollWaitSeconds { get; set; } = 10;

    /// <summary>Most SETs one poll returns. Default 1,000.</summary>
    public int MaxPollEvents { get; set; } = 1_000;

    /// <summary>Timeout of one push delivery (RFC 8935). Default 10 s.</summary>
    public int PushTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// Whether push receivers may be on loopback, link-local or private addresses. Default false:
    /// a tenant's token must not make the server call into its own network (SSRF).
    /// </summary>
    public bool AllowPrivatePushTargets { get; set; }

    /// <summary>
    /// SETs of one push stream in flight at once (RFC 8935 leaves concurrency to the transmitter).
    /// One subject never has more than one in flight, so each subject's events arrive in order. Default 64:
    /// delivery runs at most this many SETs per round trip, so 16 fell behind writers that kept 32
    /// requests in flight (their round trips are as long on a busy machine), and at a remote
    /// receiver's 50 ms it would cap a stream at 320 SETs/s.
    /// </summary>
    public int PushConcurrency { get; set; } = 64;

    /// <summary>
    /// The HTTP version push speaks to receivers: "negotiate" (default) offers HTTP/2 over TLS by
    /// ALPN and falls back to HTTP/1.1, and speaks HTTP/1.1 to http:// receivers; "2" speaks only
    /// HTTP/2, to http:// receivers with prior knowledge (h2c, RFC 9113 §3.3); "1.1" only HTTP/1.1.
    /// HTTP/2 carries a stream's SETs in flight on one connection, in fewer writes and reads than
    /// one connection each (RFC 8935 still sends one SET per request).
    /// </summary>
    public string PushHttpVersion { get; set; } = "negotiate";

    /// <summary>The request version and policy <see cref="PushHttpVersion"/> names; null for a name it does not know.</summary>
    public (Version Version, HttpVersionPolicy Policy)? PushRequestVersion() => PushHttpVersion switch
    {
        "negotiate" => (HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower),
        "2" => (HttpVersion.Version20, HttpVersionPolicy.RequestVersionExact),
        "1.1" => (HttpVersion.Version11, HttpVersionPolicy.RequestVersionExact),
        _ => null,
    };

    /// <summary>
    /// A PEM file of certificates trusted for https push receivers besides the system's roots (a
    /// private CA's, or a receiver's own): receivers inside an organisation. The host name is still
    /// checked. Default none.
    /// </summary>
    public string? PushTrustedCertificatesFile { get; set; }

    /// <summary>The certificates in <see cref="PushTrustedCertificatesFile"/> (null when it is not set); throws when it cannot be read.</summary>
    public X509Certificate2Collection? LoadPushTrustedCertificates()
    {
        if (string.IsNullOrEmpty(PushTrustedCertificatesFile))
        {
            return null;
        }

        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(PushTrustedCertificatesFile);
        return certificates;
    }

    /// <summary>SETs a push stream reads ahead of its cursor (what other subjects get while one waits). Default 4,096.</summary>
    public int PushWindow { get; set; } = 4_096;

    /// <summary>
    /// Most SETs of failing subjects a push stream parks (kept in its cursor record) so the others go
    /// on; past it the stream waits for them. Default 10,000.
    /// </summary>
    public int MaxParkedPerStream { get; set; } = 10_000;

    /// <summary>Longest wait between push retries. Default 1 hour (retries go on until the stream is disabled).</summary>
    public int MaxPushRetrySeconds { get; set; } = 3600;

    /// <summary>An ES256 signing key (PKCS#8 PEM file) instead of the one generated into the data directory.</summary>
    public string? SigningKeyFile { get; set; }
}
