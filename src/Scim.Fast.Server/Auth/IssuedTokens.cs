using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scim.Fast.Server;

/// <summary>One token issued by <c>scim-fast tokens add</c>: its public id, tenant, SHA-256, when and why.</summary>
public sealed record IssuedToken(string Id, string Tenant, string Sha256, DateTimeOffset Created, string? Description)
{
    /// <summary>The tenant of administration tokens (the admin API and /metrics): never a tenant's name.</summary>
    public const string Admin = "/admin";
}

/// <summary>
/// The data directory's <c>tokens.json</c>: bearer tokens issued by the <c>scim-fast tokens</c>
/// commands, apart from <c>appsettings.json</c> (whose comments a rewrite would lose). Only hashes
/// are kept. The server watches the file and applies changes without a restart; the tool rewrites
/// it whole (a temporary file renamed over it), under a lock file so two tools do not interleave.
/// </summary>
public static class IssuedTokens
{
    public const string FileName = "tokens.json";

    private const string LockName = "tokens.json.lock";

    /// <summary>The tokens in <paramref name="dataDirectory"/> (none when the file does not exist).</summary>
    public static List<IssuedToken> Read(string dataDirectory)
    {
        string path = Path.Combine(dataDirectory, FileName);
        if (!File.Exists(path))
        {
            return [];
        }

        var tokens = new List<IssuedToken>();
        var document = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
            ?? throw new FormatException($"{path}: not a JSON object.");
        foreach (var item in document["tokens"]?.AsArray() ?? [])
        {
            string sha256 = (string?)item?["sha256"] ?? "";
            if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigit))
            {
                throw new FormatException($"{path}: every token needs a sha256 of 64 hex digits.");
            }

            tokens.Add(new IssuedToken(
                (string?)item!["id"] ?? throw new FormatException($"{path}: a token without an id."),
                (string?)item["tenant"] ?? "default",
                sha256.ToLowerInvariant(),
                DateTimeOffset.TryParse((string?)item["created"], out var created) ? created : DateTimeOffset.MinValue,
                (string?)item["description"]));
        }

        return tokens;
    }

    /// <summary>Issues a new token: returns it (shown once) with its entry; only the hash is written.</summary>
    public static (string Token, IssuedToken Entry) Add(string dataDirectory, string tenant, string? description)
    {
        string token = BearerTokens.NewToken();
        var entry = new IssuedToken("tok_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5)), tenant,
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token))), DateTimeOffset.UtcNow, description);
        Update(dataDirectory, tokens => tokens.Add(entry));
        return (token, entry);
    }

    /// <summary>Revokes a token by its id; false when no token has it.</summary>
    public static bool Revoke(string dataDirectory, string id)
    {
        bool removed = false;
        Update(dataDirectory, tokens => removed = tokens.RemoveAll(t => t.Id == id) > 0);
        return removed;
    }

    private static void Update(string dataDirectory, Action<List<IssuedToken>> change)
    {
        Directory.CreateDirectory(dataDirectory);
        using var held = AcquireLock(Path.Combine(dataDirectory, LockName));
        var tokens = Read(dataDirectory);
        change(tokens);
        var array = new JsonArray();
        foreach (var token in tokens)
        {
            array.Add(new JsonObject
            {
                ["id"] = token.Id,
                ["tenant"] = token.Tenant,
                ["sha256"] = token.Sha256,
                ["created"] = token.Created.ToString("O"),
                ["description"] = token.Description,
            });
        }

        string path = Path.Combine(dataDirectory, FileName);
        string temporary = path + ".tmp";
        var options = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(temporary, new JsonObject { ["tokens"] = array }.ToJsonString(options) + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.Move(temporary, path, overwrite: true);
    }

    // An exclusive lock file, retried for a few seconds (another tool may be writing).
    private static FileStream AcquireLock(string path)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (attempt < 50)
            {
                Thread.Sleep(100);
            }
        }
    }
}
