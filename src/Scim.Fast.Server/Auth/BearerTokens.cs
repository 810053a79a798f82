using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Scim.Fast.Server;

/// <summary>
/// Bearer tokens (RFC 6750) bound to tenants. The table holds only SHA-256 hashes; a presented token
/// is hashed and compared with every known hash in constant time, so neither the table nor the timing
/// gives a token away (each thread also remembers the last valid token it saw, to skip the hash: see
/// t_lastToken). Tokens are never logged. The table is rebuilt whenever the configuration
/// reloads, so tokens rotate without a restart (add the new one, move clients, remove the old one).
/// </summary>
internal sealed class BearerTokens
{
    /// <summary>Holds the hash of the generated default-tenant token, inside the data directory.</summary>
    public const string GeneratedTokenFile = "default-tenant.token.sha256";

    private volatile Entry[] _entries = [];

    // One-time tokens of the scim-fast tool's embedded server: in memory only, never configuration.
    private volatile Entry[] _tool = [];

    private readonly record struct Entry(byte[] Hash, string? Tenant);

    // The last token this thread found valid, and its hash. A client sends the same token on every
    // request, and SHA-256 through OpenSSL was ~2 % of the server's CPU in a GET at 25,000/s. The
    // presented token is compared with it over all its bytes in constant time (only a length that
    // differs answers early, and then the token is hashed as before); the hash is still compared
    // with every entry, so a token removed on reload stops working at once. The token's text stays
    // in memory while the thread lives, as the header Kestrel reuses across requests already does.
    [ThreadStatic] private static (char[] Token, byte[] Hash)? t_lastToken;

    /// <summary>The tenant (null = default) a presented token belongs to, or false when it is unknown.</summary>
    /// <param name="token">The presented token.</param>
    /// <param name="tenant">The token's tenant (null = default).</param>
    /// <param name="slot">A stable number for the token (its rate-limit bucket), never the token itself.</param>
    public bool TryAuthenticate(ReadOnlySpan<char> token, out string? tenant, out int slot)
    {
        Span<byte> hash = stackalloc byte[32];
        bool recalled = RecallHash(token, hash);
        if (!recalled)
        {
            Hash(token, hash);
        }

        tenant = null;
        slot = -1;
        bool found = false;
        // Compare against every entry, match or not: the time taken says nothing about which matched.
        foreach (var entries in (ReadOnlySpan<Entry[]>)[_entries, _tool])
        {
            for (int i = 0; i < entries.Length; i++)
            {
                if (CryptographicOperations.FixedTimeEquals(entries[i].Hash, hash) && !found)
                {
                    tenant = entries[i].Tenant;
                    slot = BitConverter.ToInt32(hash);
                    found = true;
                }
            }
        }

        if (found && !recalled)
        {
            t_lastToken = (token.ToArray(), hash.ToArray());
        }

        return found;
    }

    private static bool RecallHash(ReadOnlySpan<char> token, Span<byte> hash)
    {
        if (t_lastToken is not { } last
            || !CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(last.Token.AsSpan()), MemoryMarshal.AsBytes(token)))
        {
            return false;
        }

        last.Hash.CopyTo(hash);
        return true;
    }

    /// <summary>
    /// Authenticates the request's <c>Authorization: Bearer …</c> header (RFC 6750 §2.1); false
    /// without one, or with a token this table does not hold.
    /// </summary>
    public bool TryAuthenticate(HttpRequest request, out string? tenant, out int slot)
    {
        tenant = null;
        slot = -1;
        var header = request.Headers.Authorization.ToString().AsSpan().Trim();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var token = header[7..].Trim();
        return !token.IsEmpty && TryAuthenticate(token, out tenant, out slot);
    }

    public bool IsEmpty => _entries.Length == 0;

    /// <summary>The tenant name that marks an administration token (never a valid tenant name).</summary>
    public const string AdminTenant = "/admin";

    /// <summary>Adds an in-memory token for <paramref name="tenant"/> (null = default, <see cref="AdminTenant"/> = admin API).</summary>
    internal void AddToolToken(string token, string? tenant)
    {
        var hash = new byte[32];
        Hash(token, hash);
        _tool = [.. _tool, new Entry(hash, tenant)];
    }

    // The options last loaded: a change of the issued-token file reloads with them.
    private ScimServerOptions? _options;

    /// <summary>
    /// Loads the tokens of the configuration and of the data directory's issued-token file
    /// (<see cref="IssuedTokens"/>), plus the generated default-tenant hash when neither has any.
    /// </summary>
    public void Load(ScimServerOptions options, string dataDirectory)
    {
        var issued = IssuedTokens.Read(dataDirectory);
        var entries = new List<Entry>();
        foreach (var token in issued)
        {
            entries.Add(new Entry(Convert.FromHexString(token.Sha256), token.Tenant switch
            {
                "default" => null,
                IssuedToken.Admin => AdminTenant,
                var name => name,
            }));
        }

        foreach (var token in options.AdminTokens)
        {
            entries.Add(new Entry(ParseConfigured(token, "Scim:AdminTokens"), AdminTenant));
        }

        foreach (var token in options.BearerTokens)
        {
            entries.Add(new Entry(ParseConfigured(token, "Scim:BearerTokens"), null));
        }

        foreach (var (name, tenant) in options.Tenants)
        {
            foreach (var token in tenant.BearerTokens)
            {
                entries.Add(new Entry(ParseConfigured(token, $"Scim:Tenants:{name}:BearerTokens"), name));
            }
        }

        var generated = Path.Combine(dataDirectory, GeneratedTokenFile);
        if (!options.HasConfiguredCredentials && issued.Count == 0 && File.Exists(generated))
        {
            entries.Add(new Entry(Convert.FromHexString(File.ReadAllText(generated).Trim()), null));
        }

        _entries = [.. entries];
        _options = options;
    }

    /// <summary>
    /// README's first run: no token configured for the default tenant. Generates one, keeps only its
    /// hash (next to the data) and returns the token so it can be shown once.
    /// </summary>
    public static string? GenerateDefaultTokenIfNeeded(ScimServerOptions options, string dataDirectory)
    {
        var file = Path.Combine(dataDirectory, GeneratedTokenFile);
        if (options.HasConfiguredCredentials || IssuedTokens.Read(dataDirectory).Count > 0)
        {
            // Credentials are configured now: the generated token (a first-run convenience) stops
            // working, and its hash goes, so it cannot come back if the configuration changes.
            File.Delete(file);
            return null;
        }

        if (File.Exists(file))
        {
            return null;
        }

        string token = NewToken();
        Span<byte> hash = stackalloc byte[32];
        Hash(token, hash);
        Directory.CreateDirectory(dataDirectory);
        File.WriteAllText(file, Convert.ToHexString(hash) + "\n");
        return token;
    }

    /// <summary>Watches the configuration and the issued-token file so token changes apply without a restart.</summary>
    /// <returns>Stops watching the file (at shutdown).</returns>
    public IDisposable ReloadOn(IConfiguration configuration, string dataDirectory, ILogger logger)
    {
        // The data directory itself, not its subdirectories. A PhysicalFileProvider here watched the
        // whole tree, and every write to the store's log files under store/ woke the watcher's
        // thread for an inotify event and a stat of the file: about one a group commit (strace,
        // issue 14). The tool replaces the file by a rename, hence Renamed.
        var watcher = new FileSystemWatcher(dataDirectory, IssuedTokens.FileName)
        {
            IncludeSubdirectories = false,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        void Reload()
        {
            try
            {
                Load(_options ?? new ScimServerOptions(), dataDirectory);
                logger.LogInformation("Issued tokens changed ({File}): {Count} tokens active", IssuedTokens.FileName, _entries.Length);
            }
            catch (Exception e) when (e is FormatException or JsonException or IOException)
            {
                logger.LogError("{File} rejected, previous tokens stay active: {Reason}", IssuedTokens.FileName, e.Message);
            }
        }

        watcher.Changed += (_, _) => Reload();
        watcher.Created += (_, _) => Reload();
        watcher.Deleted += (_, _) => Reload();
        watcher.Renamed += (_, _) => Reload();
        watcher.EnableRaisingEvents = true;

        Microsoft.Extensions.Primitives.ChangeToken.OnChange(configuration.GetReloadToken, () =>
        {
            try
            {
                var options = new ScimServerOptions();
                configuration.GetSection("Scim").Bind(options);
                Load(options, dataDirectory);
                logger.LogInformation("Bearer tokens reloaded: {Count} active", _entries.Length);
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException or System.Text.Json.JsonException or IOException)
            {
                // Keep the previous tokens: a typo in a reload must not lock every client out.
                logger.LogError("Bearer token reload rejected, previous tokens stay active: {Reason}", e.Message);
            }
        });

        return watcher;
    }

    private static byte[] ParseConfigured(string value, string key)
    {
        if (value.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase))
        {
            var hex = value.AsSpan(7).Trim();
            if (hex.Length != 64)
            {
                throw new FormatException($"{key}: a sha256: token needs 64 hex digits.");
            }

            return Convert.FromHexString(hex);
        }

        if (value.Length < 16)
        {
            throw new FormatException($"{key}: tokens must be at least 16 characters.");
        }

        var hash = new byte[32];
        Hash(value, hash);
        return hash;
    }

    private static void Hash(ReadOnlySpan<char> token, Span<byte> destination)
    {
        int max = Encoding.UTF8.GetMaxByteCount(token.Length);
        byte[]? rented = max > 512 ? System.Buffers.ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> utf8 = rented ?? stackalloc byte[512];
        try
        {
            int length = Encoding.UTF8.GetBytes(token, utf8);
            SHA256.HashData(utf8[..length], destination);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>A new bearer token: "scim_" and 32 random bytes in base64url (generated and issued tokens alike).</summary>
    internal static string NewToken() => "scim_" + System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
}
