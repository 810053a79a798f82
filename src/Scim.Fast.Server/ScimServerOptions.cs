using Scim.Fast.Storage.Log;

namespace Scim.Fast.Server;

/// <summary>The "Scim" configuration section (see appsettings.json for the commented defaults).</summary>
public sealed class ScimServerOptions
{
    /// <summary>SCIM events: the change feed, event streams, poll, push and SSE delivery (issue 15).</summary>
    public Scim.Fast.Events.EventOptions Events { get; set; } = new();

    /// <summary>Base path of the SCIM endpoints, without a trailing slash. Default <c>/scim/v2</c>.</summary>
    public string BasePath { get; set; } = "/scim/v2";

    /// <summary>
    /// The public origin (and path prefix) clients reach the server by, e.g.
    /// <c>https://scim.example.com</c> behind a proxy: when set, every <c>Location</c>,
    /// <c>meta.location</c> and <c>$ref</c> is built from it instead of the request's Host header
    /// (which a client controls). Empty (the default): from the request.
    /// </summary>
    public string? PublicBaseUrl { get; set; }

    /// <summary>
    /// The key RFC 9865 cursors are signed with (base64, at least 32 bytes), shared by every host
    /// that serves the same store. Empty (the default): one kept in the data directory (<c>cursor.key</c>).
    /// </summary>
    public string? CursorKey { get; set; }

    /// <summary>Whether any credential is configured (static tokens of any kind, named tenants, JWT).</summary>
    public bool HasConfiguredCredentials =>
        BearerTokens.Count > 0 || AdminTokens.Count > 0 || Tenants.Count > 0 || Jwt.Enabled;

    /// <summary>Where the embedded FASTER store keeps its files. Default <c>./data</c>.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>
    /// Bearer tokens of the default tenant: each either the token itself or <c>sha256:&lt;hex&gt;</c>
    /// of it (preferred: the configuration then holds no secret). Empty: a token is generated at
    /// first start, its hash kept in the data directory and the token printed once.
    /// </summary>
    public List<string> BearerTokens { get; set; } = [];

    /// <summary>
    /// Tokens of the tenant administration API (/admin/tenants: list, export, drop), plain or
    /// sha256:&lt;hex&gt;. Empty (the default): that API is off.
    /// </summary>
    public List<string> AdminTokens { get; set; } = [];

    /// <summary>Named tenants, served under <c>/tenants/{name}/scim/v2</c>, each with its own tokens.</summary>
    public Dictionary<string, TenantOptions> Tenants { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Where resources live: the embedded store (default) or a Redis Cluster (README, "Scale-out").</summary>
    public StoreBackend Store { get; set; } = StoreBackend.Embedded;

    /// <summary>The Redis backend's settings (used when <see cref="Store"/> is Redis).</summary>
    public RedisOptions Redis { get; set; } = new();

    /// <summary>When an acknowledged write is durable (see README, "Durability").</summary>
    public DurabilityMode Durability { get; set; } = DurabilityMode.GroupCommit;

    /// <summary>Memory the key-value store may use before it spills to disk, in MiB.</summary>
    public int MemoryBudgetMiB { get; set; } = 256;

    /// <summary>
    /// Memory for records read back from disk (the store's read cache), in MiB; allocated as it
    /// fills. About 2 KB per user kept hot (the user, its userName entry, its groups).
    /// </summary>
    public int ReadCacheMiB { get; set; } = 1024;

    /// <summary>
    /// Thread-pool threads started without the pool's usual ramp-up delay. Unset: 8 with the embedded
    /// store, whose file device does its disk I/O on threads of its own (some reads still hold a
    /// pool thread while they wait: README, "Known gaps"); 128 with Redis, whose client's callers
    /// wait on pool threads (at 8, concurrent group writes and deletes ran into its timeouts: 503s).
    /// The embedded store had 128 too while its disk I/O ran on pool threads; that many let the pool
    /// wake a thread for every queued item and spin them all.
    /// </summary>
    public int? MinThreads { get; set; }

    /// <summary>The pool minimum in effect: <see cref="MinThreads"/>, else the store's default.</summary>
    public int EffectiveMinThreads => MinThreads ?? (Store == StoreBackend.Redis ? 128 : 8);

    /// <summary>How often the store is checkpointed in the background (bounds restart replay), in seconds.</summary>
    public int CheckpointIntervalSeconds { get; set; } = 300;

    public ScimLimits Limits { get; set; } = new();

    /// <summary>Optional OAuth 2.0 JWT bearer validation, next to the static tokens.</summary>
    public JwtOptions Jwt { get; set; } = new();

    /// <summary>Metrics and traces (see README, "Operations").</summary>
    public MetricsOptions Metrics { get; set; } = new();

    private static bool IsBase64(string text, out int bytes)
    {
        var buffer = new byte[text.Length];
        bool ok = Convert.TryFromBase64String(text, buffer, out bytes);
        return ok;
    }

    private bool HasPushTrustedCertificates()
    {
        try
        {
            return Events.LoadPushTrustedCertificates() is { Count: > 0 };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            return false;
        }
    }

    /// <summary>Throws when a value cannot work, so a bad configuration stops the server at start.</summary>
    public void Validate()
    {
        if (!BasePath.StartsWith('/') || BasePath.EndsWith('/') || BasePath.Contains('?', StringComparison.Ordinal))
        {
            throw new ScimConfigurationException($"Scim:BasePath must start with '/' and not end with '/': '{BasePath}'.");
        }

        if (!string.IsNullOrEmpty(PublicBaseUrl)
            && (!Uri.TryCreate(PublicBaseUrl, UriKind.Absolute, out var publicUri) || publicUri.Scheme is not ("http" or "https")
                || !string.IsNullOrEmpty(publicUri.Query) || !string.IsNullOrEmpty(publicUri.Fragment)))
        {
            throw new ScimConfigurationException($"Scim:PublicBaseUrl must be an absolute http(s) URL without query or fragment: '{PublicBaseUrl}'.");
        }

        if (!string.IsNullOrEmpty(CursorKey) && (!IsBase64(CursorKey, out int keyBytes) || keyBytes < 32))
        {
            throw new ScimConfigurationException("Scim:CursorKey must be base64 of at least 32 bytes.");
        }

        foreach (var name in Tenants.Keys)
        {
            if (name.Equals("default", StringComparison.OrdinalIgnoreCase))
            {
                // "default" names the tenant of {BasePath} itself (logs, admin API): a tenant of that
                // name would be a second one that looks the same everywhere.
                throw new ScimConfigurationException("Scim:Tenants: 'default' is reserved for the default tenant (served at Scim:BasePath); pick another name.");
            }

            if (!TenantDirectory.IsValidName(name))
            {
                throw new ScimConfigurationException($"Scim:Tenants: '{name}' is not a valid tenant name (1-64 of a-z, A-Z, 0-9, '-', '_', '.').");
            }
        }

        if (!string.IsNullOrEmpty(Jwt.Tenant) && Jwt.Tenant != "default" && !TenantDirectory.IsValidName(Jwt.Tenant))
        {
            throw new ScimConfigurationException($"Scim:Jwt:Tenant must be 'default' or a tenant name: '{Jwt.Tenant}'.");
        }

        Limits.Validate();
        if (Events.PushRequestVersion() is null)
        {
            throw new ScimConfigurationException($"Scim:Events:PushHttpVersion must be negotiate, 1.1 or 2: '{Events.PushHttpVersion}'.");
        }

        if (!string.IsNullOrEmpty(Events.PushTrustedCertificatesFile) && !HasPushTrustedCertificates())
        {
            throw new ScimConfigurationException($"Scim:Events:PushTrustedCertificatesFile must be a readable PEM file of one or more certificates: '{Events.PushTrustedCertificatesFile}'.");
        }

        if (Store == StoreBackend.Redis && string.IsNullOrWhiteSpace(Redis.Configuration))
        {
            throw new ScimConfigurationException("Scim:Store is Redis: set Scim:Redis:Configuration (a StackExchange.Redis configuration string, e.g. \"10.0.0.1:7000,10.0.0.2:7000\").");
        }

        if (!Redis.KeyPrefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
        {
            throw new ScimConfigurationException($"Scim:Redis:KeyPrefix may hold only letters, digits, '-', '_', '.' and ':': '{Redis.KeyPrefix}'.");
        }

        if (Redis.ReplicaAcks < 0)
        {
            throw new ScimConfigurationException("Scim:Redis:ReplicaAcks must be 0 or more.");
        }

        if (Jwt.Enabled && (string.IsNullOrEmpty(Jwt.Audience) || (string.IsNullOrEmpty(Jwt.Issuer) && string.IsNullOrEmpty(Jwt.Authority))))
        {
            throw new ScimConfigurationException("Scim:Jwt needs an Audience and an Issuer (or an Authority).");
        }
    }
}

/// <summary>Which storage backend serves the resources.</summary>
public enum StoreBackend
{
    /// <summary>FASTER and a write-ahead log in the data directory: one process, the fastest.</summary>
    Embedded,

    /// <summary>A Redis 7 Cluster (or Valkey, or a standalone primary with a replica): stateless hosts.</summary>
    Redis,
}

/// <summary>The "Scim:Redis" section.</summary>
public sealed class RedisOptions
{
    /// <summary>A StackExchange.Redis configuration string: the cluster's nodes and options.</summary>
    public string Configuration { get; set; } = "";

    /// <summary>
    /// Replicas that must hold a write before it is acknowledged (WAIT). 1 (the default) keeps an
    /// acknowledged write through the loss of one node; 0 acknowledges after the primary alone.
    /// </summary>
    public int ReplicaAcks { get; set; } = 1;

    /// <summary>How long a write waits for its replica acknowledgements before it answers 503.</summary>
    public int WaitTimeoutMilliseconds { get; set; } = 2000;

    /// <summary>Put into every key's hash tag, so several deployments can share one cluster (letters, digits, '-', '_', '.', ':').</summary>
    public string KeyPrefix { get; set; } = "";
}

/// <summary>The "Scim:Metrics" section: the Prometheus scrape endpoint and its guard.</summary>
public sealed class MetricsOptions
{
    /// <summary>Whether the server records metrics and serves <c>/metrics</c>. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Whether <c>/metrics</c> answers without a token (a scraper on a private network). Default
    /// false: a token from Scim:AdminTokens is required, and without admin tokens /metrics is off.
    /// </summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>
    /// Whether ASP.NET Core's own meters (http.server.request.duration, Kestrel's connection
    /// metrics) are exported too. Default false: they cost about a tenth of GET throughput.
    /// </summary>
    public bool AspNetCore { get; set; }

    /// <summary>Distinct tenants labelled in metrics; the rest are summed as "_other". Default 100.</summary>
    public int MaxTenantLabels { get; set; } = 100;
}

/// <summary>
/// OAuth 2.0 access tokens as JWTs (RFC 9068 style): signature, issuer, audience and lifetime are
/// checked by Microsoft.AspNetCore.Authentication.JwtBearer. The tenant comes from a claim; a token
/// without it acts for the default tenant.
/// </summary>
public sealed class JwtOptions
{
    /// <summary>OpenID Connect authority: signing keys come from its discovery document.</summary>
    public string? Authority { get; set; }

    /// <summary>Expected "iss".</summary>
    public string? Issuer { get; set; }

    /// <summary>Expected "aud".</summary>
    public string? Audience { get; set; }

    /// <summary>Symmetric signing keys (base64), for deployments without an authority.</summary>
    public List<string> SigningKeys { get; set; } = [];

    /// <summary>
    /// The claim that names the tenant (<c>default</c> for the default tenant). Required in every
    /// token unless <see cref="Tenant"/> is set. Default <c>scim_tenant</c>.
    /// </summary>
    public string TenantClaim { get; set; } = "scim_tenant";

    /// <summary>
    /// The one tenant this issuer's tokens act for (<c>default</c> for the default tenant), for an
    /// issuer that serves a single tenant: tokens then need no tenant claim (one they carry must name
    /// this tenant). Empty (the default): every token must carry <see cref="TenantClaim"/>.
    /// </summary>
    public string? Tenant { get; set; }

    /// <summary>
    /// A scope every token must hold (in <c>scope</c> or <c>scp</c>), e.g. <c>scim.provision</c>;
    /// a token without it is 403 <c>insufficient_scope</c> (RFC 6750 §3.1). Empty: none required.
    /// </summary>
    public string? RequiredScope { get; set; }

    /// <summary>
    /// Signature algorithms accepted (JWS <c>alg</c>). Default: HS256/384/512 with
    /// <see cref="SigningKeys"/>, RS/PS/ES 256–512 with an <see cref="Authority"/>; never <c>none</c>.
    /// </summary>
    public List<string> Algorithms { get; set; } = [];

    public bool Enabled => !string.IsNullOrEmpty(Authority) || SigningKeys.Count > 0;
}

/// <summary>One named tenant.</summary>
public sealed class TenantOptions
{
    /// <summary>The tenant's bearer tokens, plain or <c>sha256:&lt;hex&gt;</c>.</summary>
    public List<string> BearerTokens { get; set; } = [];
}

/// <summary>Limits that keep one client from hurting the others; each breach is a SCIM error, never a 500.</summary>
public sealed class ScimLimits
{
    /// <summary>Largest request body for everything but /Bulk, in bytes (413 above it).</summary>
    public int MaxBodyBytes { get; set; } = 1 << 20;

    /// <summary>Largest /Bulk request body (maxPayloadSize, RFC 7644 §3.7.4).</summary>
    public int BulkMaxPayloadBytes { get; set; } = 4 << 20;

    /// <summary>Most operations in one /Bulk request (maxOperations).</summary>
    public int BulkMaxOperations { get; set; } = 1000;

    /// <summary>Page size when a client names none (RFC 7644 §3.4.2.4).</summary>
    public int DefaultCount { get; set; } = 100;

    /// <summary>Largest page; a larger count is capped (filter.maxResults).</summary>
    public int MaxCount { get; set; } = 1000;

    /// <summary>Longest filter, in UTF-8 bytes.</summary>
    public int MaxFilterLength { get; set; } = 8 * 1024;

    /// <summary>Deepest filter nesting.</summary>
    public int MaxFilterDepth { get; set; } = 32;

    /// <summary>
    /// Slowest acceptable request body upload, in bytes per second, after <see cref="BodyGraceSeconds"/>:
    /// a client trickling its body slower is cut off (Kestrel's MinRequestBodyDataRate), so slow
    /// clients cannot hold connections and buffers forever.
    /// </summary>
    public int MinBodyBytesPerSecond { get; set; } = 240;

    /// <summary>Seconds before the minimum rate applies (Kestrel needs more than one).</summary>
    public int BodyGraceSeconds { get; set; } = 5;

    /// <summary>Longest time to receive the request headers, in seconds.</summary>
    public int HeadersTimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// Longest a request may take, body upload included, in seconds: past it the request is cancelled
    /// and answered 503 with a SCIM error (0: no limit). Default 60 (Okta gives up after 60 s).
    /// A write already in the log is not undone: it completes, only its answer is lost.
    /// </summary>
    public int RequestTimeoutSeconds { get; set; } = 60;

    /// <summary>
    /// Requests per second each token may sustain (0: unlimited); 429 with Retry-After above it.
    /// Default 1,000: Entra ID and Okta send tens per second per tenant, and an initial sync by
    /// /Bulk carries up to 1,000 operations in each request, so no identity provider meets it; a
    /// runaway client does. Load tests of reads turn it off (0).
    /// </summary>
    public int RequestsPerSecondPerToken { get; set; } = 1000;

    /// <summary>Burst allowance above the sustained rate.</summary>
    public int RequestBurstPerToken { get; set; } = 5000;

    /// <summary>
    /// Failed authentications a client address may make per minute (a burst of as many, refilled
    /// evenly); past it every request from that address is 429 for a while, valid token or not, so
    /// tokens cannot be guessed at speed. 0: unlimited. Default 60.
    /// </summary>
    public int FailedAuthenticationsPerMinutePerAddress { get; set; } = 60;

    /// <summary>
    /// Most resources one list query may read when no index answers its filter or sort (400 tooMany
    /// past it, with a hint to use an indexed filter or a cursor). Default 1,000,000: a scan keeps only
    /// its page and reads about a million users a second on two cores, so the cap bounds CPU, not memory.
    /// </summary>
    public int MaxScannedResources { get; set; } = 1_000_000;

    /// <summary>
    /// Unindexed queries (reading more than <see cref="ScanFreeResources"/>) a tenant may run at once;
    /// more is 429 with Retry-After. Default 2.
    /// </summary>
    public int MaxConcurrentScansPerTenant { get; set; } = 2;

    /// <summary>Resources a list query may read before it counts as a scan. Default 1,000.</summary>
    public int ScanFreeResources { get; set; } = 1_000;

    /// <summary>
    /// A scan reads the store's log in storage order (sequentially, one part per core) rather than
    /// each resource by id when the log holds at most this many bytes per resource of the tenant
    /// and type (a tenant that is most of the store); else, and at 0, by id. Default 2,048: about
    /// where the two cost the same (0.25 ns a log byte against 0.9 µs a read by id, at 1M users).
    /// </summary>
    public int StorageScanLogBytesPerResource { get; set; } = 2_048;

    /// <summary>
    /// How long the answer to a POST with an Idempotency-Key is kept for retries, in hours (then the
    /// key may be used again). Default 24.
    /// </summary>
    public int IdempotencyRetentionHours { get; set; } = 24;

    public void Validate()
    {
        if (MaxBodyBytes < 1024 || BulkMaxPayloadBytes < 1024 || BulkMaxOperations < 1 || DefaultCount < 0 || MaxCount < 1
            || MaxFilterLength < 16 || MaxFilterDepth < 1 || RequestsPerSecondPerToken < 0 || RequestBurstPerToken < 1 || FailedAuthenticationsPerMinutePerAddress < 0
            || MinBodyBytesPerSecond < 1 || BodyGraceSeconds < 2 || HeadersTimeoutSeconds < 1 || RequestTimeoutSeconds < 0
            || IdempotencyRetentionHours < 1 || MaxScannedResources < 1 || MaxConcurrentScansPerTenant < 1 || ScanFreeResources < 0 || StorageScanLogBytesPerResource < 0)
        {
            throw new ScimConfigurationException("Scim:Limits holds a value out of range (see appsettings.json).");
        }
    }
}

/// <summary>
/// A configuration value the server cannot work with: the start stops, and the server says which
/// setting and why in one line (Program.cs).
/// </summary>
public sealed class ScimConfigurationException(string message) : InvalidOperationException(message);

/// <summary>
/// Something outside the configuration's values keeps the server from starting (its data directory
/// cannot be made, its Redis store cannot be reached): the start stops with one line saying what
/// and where, and exit code 1 (Program.cs), as for a setting that cannot work.
/// </summary>
public sealed class ScimStartException(string message, Exception inner) : InvalidOperationException(message, inner);
