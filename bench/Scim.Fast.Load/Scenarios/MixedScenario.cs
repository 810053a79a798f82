using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// Many tenants at once, as a SaaS sees them: tenant t0 … t{N-1}, each with its own JWT (HS256,
/// minted with --jwt-key; the server must trust that key and audience). Per operation: a tenant in
/// turn, then 80% lookups of an existing user by userName and 20% creates. Use --rate for a per-
/// tenant rate of rate / tenants.
/// </summary>
internal sealed class MixedScenario(string run) : IScenario
{
    private const int UsersPerTenant = 100;
    private string[] _tokens = [];
    private string[] _bases = [];
    private string[][] _ids = [];

    // Each tenant's users have names of their own: a lookup answered from another tenant fails.
    private static string UserName(int tenant, int i) => $"t{tenant}-" + Seed.UserName(i);

    public async Task SetupAsync(LoadContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        if (options.JwtKey is null)
        {
            throw new ArgumentException("mixed needs --jwt-key (the server's Scim:Jwt:SigningKeys:0) to mint a token per tenant");
        }

        var root = context.Target.GetLeftPart(UriPartial.Authority);
        _tokens = new string[options.Tenants];
        _bases = new string[options.Tenants];
        _ids = new string[options.Tenants][];
        for (int t = 0; t < options.Tenants; t++)
        {
            _tokens[t] = Jwt(options, "t" + t);
            _bases[t] = root + "/tenants/t" + t + context.Target.AbsolutePath;
            var operations = new StringBuilder();
            for (int i = 0; i < UsersPerTenant; i++)
            {
                operations.Append(i == 0 ? "" : ",").Append("{\"method\":\"POST\",\"path\":\"/Users\",\"bulkId\":\"u").Append(i).Append("\",\"data\":")
                    .Append(Seed.UserJson(UserName(t, i), Seed.ExternalId(i))).Append('}');
            }

            var reply = await context.SendAsync("seed", HttpMethod.Post, _bases[t] + "/Bulk",
                "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[" + operations + "]}", _tokens[t], cancellationToken).ConfigureAwait(false);
            if (reply.Status != 200)
            {
                throw new InvalidOperationException($"seeding tenant t{t} failed: {reply.Status} {Encoding.UTF8.GetString(reply.Body)}");
            }

            // Ids in bulkId order (u0 … u99), from each operation's location; re-runs find them by name.
            _ids[t] = new string[UsersPerTenant];
            for (int i = 0; i < UsersPerTenant; i++)
            {
                var found = await context.SendAsync("seed", HttpMethod.Get, _bases[t] + "/Users?attributes=id&filter=userName+eq+%22" + Uri.EscapeDataString(UserName(t, i)) + "%22", null, _tokens[t], cancellationToken).ConfigureAwait(false);
                _ids[t][i] = (string?)found.Json?["Resources"]?[0]?["id"] ?? throw new InvalidOperationException($"tenant t{t}: seeded user {i} not found");
            }
        }
    }

    public async Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken)
    {
        int tenant = (int)(sequence % _tokens.Length);
        if (sequence % 5 == 4)
        {
            // Warm-up and measured phase number their operations from 0 each: the phase keeps names apart.
            string userName = $"mixed-{run}-{(context.Measuring ? "m" : "w")}{sequence:D9}@example.com";
            var created = await context.SendAsync("POST /Users (tenant)", HttpMethod.Post, _bases[tenant] + "/Users", Seed.UserJson(userName, "mx-" + sequence), _tokens[tenant], cancellationToken).ConfigureAwait(false);
            bool whole = context.BaselineMode || (created.Status == 201 && created.Version == 1 && (string?)created.Json?["userName"] == userName
                && ((string?)created.Json?["meta"]?["location"])?.Contains("/tenants/t" + tenant + "/", StringComparison.Ordinal) == true);
            return ReadScenario.Check(context, created.Status == 201 && whole, created.Status);
        }

        int i = (int)(sequence / _tokens.Length % UsersPerTenant);
        var lookup = await context.SendAsync("GET /Users?filter=userName eq (tenant)", HttpMethod.Get,
            _bases[tenant] + "/Users?filter=userName+eq+%22" + Uri.EscapeDataString(UserName(tenant, i)) + "%22", null, _tokens[tenant], cancellationToken).ConfigureAwait(false);
        return ReadScenario.Check(context, lookup.Status == 200
            && (context.BaselineMode || (ReadScenario.Contains(lookup.Body, "\"totalResults\":1,") && ReadScenario.Contains(lookup.Body, "\"id\":\"" + _ids[tenant][i] + "\""))), lookup.Status);
    }

    // A compact HS256 JWT: what an authorization server would issue for this tenant's provisioner.
    private static string Jwt(LoadOptions options, string tenant)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string header = Base64Url.EncodeToString("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"u8);
        string payload = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(
            $"{{\"iss\":\"{options.JwtIssuer}\",\"aud\":\"{options.JwtAudience}\",\"sub\":\"load-{tenant}\",\"scim_tenant\":\"{tenant}\",\"iat\":{now},\"nbf\":{now - 60},\"exp\":{now + 86400}}}"));
        byte[] signature = HMACSHA256.HashData(Convert.FromBase64String(options.JwtKey!), Encoding.ASCII.GetBytes(header + "." + payload));
        return header + "." + payload + "." + Base64Url.EncodeToString(signature);
    }
}
