using System.Net;
using System.Security.Claims;

using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Scim.Fast.Server.Tests;

/// <summary>A server that also accepts OAuth 2.0 JWT access tokens signed with a shared key.</summary>
public sealed class JwtFixture : ScimServerFixture
{
    public static readonly byte[] Key = Enumerable.Range(1, 32).Select(i => (byte)(i * 7)).ToArray();

    protected override IEnumerable<string> ExtraArguments =>
    [
        "--Scim:Jwt:Issuer=https://issuer.example",
        "--Scim:Jwt:Audience=scim-fast",
        "--Scim:Jwt:SigningKeys:0=" + Convert.ToBase64String(Key),
    ];

    public static string Jwt(string? tenant = "default", string audience = "scim-fast", string issuer = "https://issuer.example", byte[]? key = null, DateTime? expires = null, string? scope = null, string algorithm = SecurityAlgorithms.HmacSha256)
    {
        var claims = new List<Claim> { new("sub", "provisioner-1") };
        if (tenant is not null)
        {
            claims.Add(new Claim("scim_tenant", tenant));
        }

        if (scope is not null)
        {
            claims.Add(new Claim("scope", scope));
        }

        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Subject = new ClaimsIdentity(claims),
            NotBefore = (expires ?? now.AddMinutes(10)).AddMinutes(-20),
            IssuedAt = (expires ?? now.AddMinutes(10)).AddMinutes(-20),
            Expires = expires ?? now.AddMinutes(10),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(key ?? Key), algorithm),
        });
    }
}

public sealed class JwtBearerTests(JwtFixture server) : IClassFixture<JwtFixture>
{
    [Fact]
    public async Task ValidJwts_AreAccepted_ForTheirTenantOnly()
    {
        using (var client = server.CreateClient(JwtFixture.Jwt()))
        {
            (await client.Get("/scim/v2/Users")).Expect(HttpStatusCode.OK);
            (await client.Get("/tenants/acme/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
        }

        using (var acme = server.CreateClient(JwtFixture.Jwt(tenant: "acme")))
        {
            (await acme.Get("/tenants/acme/scim/v2/Users")).Expect(HttpStatusCode.OK);
            (await acme.Get("/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
        }

        // Static tokens keep working next to JWTs.
        (await server.Client.Get("/scim/v2/Users")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task AJwtWithoutTheTenantClaim_Is401()
    {
        // It used to act for the default tenant: a token minted for any purpose by the issuer
        // could provision it. The claim is required (Scim:Jwt:Tenant relaxes it for one tenant).
        using var client = server.CreateClient(JwtFixture.Jwt(tenant: null));
        (await client.Get("/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("audience")]
    [InlineData("issuer")]
    [InlineData("key")]
    [InlineData("expired")]
    [InlineData("garbage")]
    [InlineData("algorithm")]
    public async Task InvalidJwts_Are401(string defect)
    {
        string token = defect switch
        {
            "audience" => JwtFixture.Jwt(audience: "someone-else"),
            "issuer" => JwtFixture.Jwt(issuer: "https://evil.example"),
            "key" => JwtFixture.Jwt(key: new byte[32]),
            "expired" => JwtFixture.Jwt(expires: DateTime.UtcNow.AddMinutes(-10)),
            "algorithm" => Unsigned(),
            _ => "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        };
        using var client = server.CreateClient(token);
        (await client.Get("/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
    }

    // A token with "alg":"none" and claims that would otherwise pass.
    private static string Unsigned()
    {
        static string Part(string json) => Base64UrlEncoder.Encode(System.Text.Encoding.UTF8.GetBytes(json));
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return Part("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + Part($"{{\"iss\":\"https://issuer.example\",\"aud\":\"scim-fast\",\"sub\":\"x\",\"scim_tenant\":\"default\",\"iat\":{now},\"nbf\":{now - 60},\"exp\":{now + 600}}}") + ".";
    }
}

public sealed class ScopedJwtFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments =>
    [
        "--Scim:Jwt:Issuer=https://issuer.example",
        "--Scim:Jwt:Audience=scim-fast",
        "--Scim:Jwt:SigningKeys:0=" + Convert.ToBase64String(JwtFixture.Key),
        "--Scim:Jwt:Tenant=acme",
        "--Scim:Jwt:RequiredScope=scim.provision",
    ];
}

/// <summary>An issuer configured for one tenant, with a required scope.</summary>
public sealed class ScopedJwtTests(ScopedJwtFixture server) : IClassFixture<ScopedJwtFixture>
{
    [Fact]
    public async Task TheIssuersTenant_NeedsNoClaim_ButTheScope()
    {
        using (var client = server.CreateClient(JwtFixture.Jwt(tenant: null, scope: "openid scim.provision")))
        {
            (await client.Get("/tenants/acme/scim/v2/Users")).Expect(HttpStatusCode.OK);
            (await client.Get("/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
        }

        // A claim naming another tenant contradicts the configuration.
        using (var other = server.CreateClient(JwtFixture.Jwt(tenant: "globex", scope: "scim.provision")))
        {
            (await other.Get("/tenants/globex/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
            (await other.Get("/tenants/acme/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
        }

        // RFC 6750 §3.1: valid, but without the scope: 403 insufficient_scope.
        using var unscoped = server.CreateClient(JwtFixture.Jwt(tenant: null, scope: "openid"));
        var refused = await unscoped.Get("/tenants/acme/scim/v2/Users");
        refused.AssertError(HttpStatusCode.Forbidden);
        Assert.Contains("insufficient_scope", refused.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }
}
