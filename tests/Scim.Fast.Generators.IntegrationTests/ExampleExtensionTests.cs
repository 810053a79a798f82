using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Generators.IntegrationTests.Resources;

namespace Scim.Fast.Generators.IntegrationTests;

/// <summary>The example Acme extension (schemas/examples/), compiled by the real build, round-trips.</summary>
public sealed class ExampleExtensionTests
{
    private const string AcmeUrn = "urn:example:params:scim:schemas:extension:acme:2.0:User";

    private const string Body = $$"""
        {
          "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "{{AcmeUrn}}"],
          "userName": "wile.e@acme.example",
          "{{AcmeUrn}}": {
            "badgeNumber": 4711,
            "clearance": "secret",
            "hireDate": "2019-03-01T09:00:00Z",
            "isContractor": "False",
            "hourlyRate": 125.50,
            "building": { "name": "HQ", "floor": 3 },
            "projects": [ { "value": "p1", "display": "Rocket skates", "primary": true }, { "value": "p2" } ],
            "skills": ["traps", "painting tunnels"],
            "internalScore": 99,
            "secretPin": "1234"
          }
        }
        """;

    private static User Read(string json, ScimReadOptions options)
    {
        Assert.True(UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), options, out var user, out var error), error?.ToString());
        return user!;
    }

    private static JsonObject Write(User user, ScimProjection? projection = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        UserSerializer.Instance.Write(buffer, user, projection);
        return JsonNode.Parse(buffer.WrittenSpan)!.AsObject();
    }

    [Fact]
    public void ExtensionAttributes_AreReadIntoTheGeneratedType()
    {
        var acme = Read(Body, ScimReadOptions.Request).AcmeUser!;

        Assert.Equal(4711, acme.BadgeNumber);
        Assert.Equal("secret", acme.Clearance);
        Assert.Equal(new DateTimeOffset(2019, 3, 1, 9, 0, 0, TimeSpan.Zero), acme.HireDate);
        Assert.False(acme.IsContractor);
        Assert.Equal(125.50m, acme.HourlyRate);
        Assert.Equal(3, acme.Building!.Floor);
        Assert.Equal(["p1", "p2"], acme.Projects!.Select(p => p.Value));
        Assert.Equal(["traps", "painting tunnels"], acme.Skills);
        Assert.Equal("1234", acme.SecretPin);
        Assert.Null(acme.InternalScore); // readOnly: ignored on input (RFC 7643 §2.2)
    }

    [Fact]
    public void ExtensionAttributes_RoundTrip_HonouringReturned()
    {
        var user = Read(Body, ScimReadOptions.Trusted);

        var json = Write(user);

        var acme = json[AcmeUrn]!.AsObject();
        Assert.Equal(4711, (long)acme["badgeNumber"]!);
        Assert.Equal(125.50m, (decimal)acme["hourlyRate"]!);
        Assert.Equal("HQ", (string?)acme["building"]!["name"]);
        Assert.False(acme.ContainsKey("secretPin"));      // returned: never
        Assert.False(acme.ContainsKey("internalScore"));  // returned: request, not requested
        Assert.Contains(AcmeUrn, json["schemas"]!.AsArray().Select(n => (string?)n));

        var requested = Write(user, ScimProjection.Create(ScimResourceTypes.User, AcmeUrn + ":internalScore", null));
        Assert.Equal(99, (long)requested[AcmeUrn]!["internalScore"]!);
    }

    [Fact]
    public void ExtensionMetadata_IsGeneratedFromTheJson()
    {
        var clearance = ScimResourceTypes.User.ResolvePath(AcmeUrn + ":clearance")!;

        Assert.Equal(["public", "secret", "top-secret"], clearance.CanonicalValues);
        Assert.Equal(AcmeUrn, clearance.SchemaId);
        Assert.Equal(ScimReturned.Never, ScimResourceTypes.User.ResolvePath(AcmeUrn + ":secretPin")!.Returned);
        Assert.Equal(2, ScimResourceTypes.User.Extensions.Count);
    }

    [Fact]
    public void ExtensionAttribute_WithTheWrongType_IsInvalidValueNamingIt()
    {
        string json = Body.Replace("\"badgeNumber\": 4711", "\"badgeNumber\": \"many\"", StringComparison.Ordinal);

        Assert.False(UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), ScimReadOptions.Request, out _, out var error));
        Assert.Contains(AcmeUrn + ":badgeNumber", error!.Detail, StringComparison.Ordinal);
    }
}
