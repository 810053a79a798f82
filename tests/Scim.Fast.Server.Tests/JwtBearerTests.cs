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

    public static string Jwt(string? tenant = null, string audience = "scim-fast", string issuer = "https://issuer.example", byte[]? key = null, DateTime? expires = null)
    {
        var claims = new List<Claim> { new("sub", "provisioner-1") };
        if (tenant is not null)
        {
            claims.Add(new Claim("scim_tenant", tenant));
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
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(key ?? Key), SecurityAlgorithms.HmacSha256),
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

    [Theory]
    [InlineData("audience")]
    [InlineData("issuer")]
    [InlineData("key")]
    [InlineData("expired")]
    [InlineData("garbage")]
    public async Task InvalidJwts_Are401(string defect)
    {
        string token = defect switch
        {
            "audience" => JwtFixture.Jwt(audience: "someone-else"),
            "issuer" => JwtFixture.Jwt(issuer: "https://evil.example"),
            "key" => JwtFixture.Jwt(key: new byte[32]),
            "expired" => JwtFixture.Jwt(expires: DateTime.UtcNow.AddMinutes(-10)),
            _ => "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        };
        using var client = server.CreateClient(token);
        (await client.Get("/scim/v2/Users")).AssertError(HttpStatusCode.Unauthorized);
    }
}
