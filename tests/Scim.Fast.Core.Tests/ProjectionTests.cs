using System.Text;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests;

/// <summary>"returned" (RFC 7643 §2.2) with attributes / excludedAttributes (RFC 7644 §3.4.2.5).</summary>
public sealed class ProjectionTests
{
    private static readonly User s_user = LoadUser();

    private static User LoadUser()
    {
        Assert.True(UserSerializer.Instance.TryRead(
            Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.3-enterprise-user.json")), ScimReadOptions.Trusted, out var user, out _));
        user!.Password = "secret";
        return user;
    }

    private static JsonObject Write(string? attributes, string? excluded) =>
        JsonNode.Parse(TestJson.WriteUser(s_user, ScimProjection.Create(ScimResourceTypes.User, attributes, excluded)))!.AsObject();

    private static string[] Keys(JsonObject json) => [.. json.Select(p => p.Key).Order(StringComparer.Ordinal)];

    [Fact]
    public void Default_NeverWritesPassword()
    {
        var json = Write(null, null);

        Assert.False(json.ContainsKey("password"));
        Assert.True(json.ContainsKey("userName"));
        Assert.True(json.ContainsKey("meta"));
    }

    [Fact]
    public void Everything_WritesPasswordForStorage()
    {
        var json = JsonNode.Parse(TestJson.WriteUser(s_user, ScimProjection.Everything(ScimResourceTypes.User)))!.AsObject();

        Assert.Equal("secret", (string?)json["password"]);
    }

    [Fact]
    public void Attributes_ReturnOnlyThoseAndAlwaysReturned()
    {
        var json = Write("userName", null);

        Assert.Equal(["id", "schemas", "userName"], Keys(json));
    }

    [Fact]
    public void Attributes_SubAttribute_KeepsTheContainerWithOnlyIt()
    {
        var json = Write("name.givenName,emails.value", null);

        Assert.Equal(["emails", "id", "name", "schemas"], Keys(json));
        Assert.Equal(["givenName"], Keys(json["name"]!.AsObject()));
        Assert.All(json["emails"]!.AsArray(), e => Assert.Equal(["value"], Keys(e!.AsObject())));
    }

    [Fact]
    public void Attributes_AreCaseInsensitive_AndMayBeQualified()
    {
        var json = Write("USERNAME, urn:ietf:params:scim:schemas:core:2.0:User:displayName", null);

        Assert.Equal(["displayName", "id", "schemas", "userName"], Keys(json));
    }

    [Fact]
    public void Attributes_ExtensionUrn_ReturnsTheWholeExtension()
    {
        var json = Write("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", null);

        Assert.Equal(["id", "schemas", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"], Keys(json));
        Assert.Contains("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", json["schemas"]!.AsArray().Select(n => (string?)n));
    }

    [Fact]
    public void Attributes_ExtensionAttribute_ReturnsOnlyIt()
    {
        var json = Write("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", null);

        var extension = json["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]!.AsObject();
        Assert.Equal(["employeeNumber"], Keys(extension));
    }

    [Fact]
    public void Attributes_Password_IsStillNeverReturned()
    {
        var json = Write("password,userName", null);

        Assert.False(json.ContainsKey("password"));
    }

    [Fact]
    public void Excluded_RemovesAttributes_ButNotAlwaysReturned()
    {
        var json = Write(null, "emails,id,name.familyName,meta");

        Assert.False(json.ContainsKey("emails"));
        Assert.False(json.ContainsKey("meta"));
        Assert.True(json.ContainsKey("id"));
        Assert.False(json["name"]!.AsObject().ContainsKey("familyName"));
        Assert.True(json["name"]!.AsObject().ContainsKey("givenName"));
    }

    [Fact]
    public void Excluded_WholeExtension_DropsItsSchemaUrnToo()
    {
        var json = Write(null, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");

        Assert.False(json.ContainsKey("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        Assert.DoesNotContain("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", json["schemas"]!.AsArray().Select(n => (string?)n));
    }

    [Fact]
    public void Group_ExcludedMembers_OmitsMembers()
    {
        Assert.True(GroupSerializer.Instance.TryRead(
            Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.4-group.json")), ScimReadOptions.Trusted, out var group, out _));

        var json = JsonNode.Parse(TestJson.WriteGroup(group!, ScimProjection.Create(ScimResourceTypes.Group, null, "members")))!.AsObject();

        Assert.False(json.ContainsKey("members"));
        Assert.True(json.ContainsKey("displayName"));
    }

    [Fact]
    public void UnknownNames_AreIgnored()
    {
        var json = Write("userName,noSuchThing", "alsoMissing");

        Assert.Equal(["id", "schemas", "userName"], Keys(json));
    }

    [Theory]
    [InlineData("name.familyName")]
    [InlineData("emails.value")]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")]
    public void ReadingOnlySomeAttributes_DecodesThoseAndTheirParents_AndSkipsTheRest(string path)
    {
        var attribute = ScimResourceTypes.User.ResolvePath(path)!;
        var options = new ScimReadOptions { IgnoreReadOnly = false, RequireSchemas = false, Only = ScimProjection.ForReading(ScimResourceTypes.User, [attribute]) };
        Assert.True(UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.3-enterprise-user.json")), options, out var user, out var error), error?.ToString());

        // The attribute asked for (and id, always) as in a whole read; nothing else.
        Assert.Equal(s_user.Id, user!.Id);
        Assert.Equal(path == "name.familyName" ? s_user.Name!.FamilyName : null, user.Name?.FamilyName);
        Assert.Equal(path == "emails.value" ? s_user.Emails!.Select(e => e.Value) : null, user.Emails?.Select(e => e.Value));
        Assert.Equal(path.EndsWith("employeeNumber", StringComparison.Ordinal) ? s_user.EnterpriseUser!.EmployeeNumber : null, user.EnterpriseUser?.EmployeeNumber);
        Assert.Equal(path.EndsWith("manager.value", StringComparison.Ordinal) ? s_user.EnterpriseUser!.Manager!.Value : null, user.EnterpriseUser?.Manager?.Value);
        Assert.Null(user.UserName);
        Assert.Null(user.PhoneNumbers);
        Assert.Null(user.Meta);
    }

    [Theory]
    [InlineData("name.familyName")]
    [InlineData("emails.value")]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")]
    public void StoppingOnceRead_GivesWhatAWholeReadGives_ForEveryWantedAttribute(string path)
    {
        var attribute = ScimResourceTypes.User.ResolvePath(path)!;
        var only = ScimProjection.ForReading(ScimResourceTypes.User, [attribute]);
        var full = new ScimReadOptions { IgnoreReadOnly = false, RequireSchemas = false, Only = only };
        var stopping = new ScimReadOptions { IgnoreReadOnly = false, RequireSchemas = false, Only = only, StopWhenRead = true };
        var bytes = Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.3-enterprise-user.json"));

        Assert.True(UserSerializer.Instance.TryRead(bytes, full, out var expected, out _));
        Assert.True(UserSerializer.Instance.TryRead(bytes, stopping, out var user, out var error), error?.ToString());

        Assert.Equal(expected!.Id, user!.Id);
        Assert.Equal(expected.Name?.FamilyName, user.Name?.FamilyName);
        Assert.Equal(expected.Emails?.Select(e => e.Value), user.Emails?.Select(e => e.Value));
        Assert.Equal(expected.EnterpriseUser?.EmployeeNumber, user.EnterpriseUser?.EmployeeNumber);
    }

    [Fact]
    public void StoppingOnceRead_DoesNotReadPastTheLastWantedAttribute_ButReadsOnWhileOneIsMissing()
    {
        var only = ScimProjection.ForReading(ScimResourceTypes.User, [ScimResourceTypes.User.ResolvePath("name.familyName")!]);
        var stopping = new ScimReadOptions { IgnoreReadOnly = false, RequireSchemas = false, Only = only, StopWhenRead = true };
        var whole = new ScimReadOptions { IgnoreReadOnly = false, RequireSchemas = false, Only = only };

        // id and name read: what follows is never looked at (here it is not even JSON).
        var cut = Encoding.UTF8.GetBytes("{\"id\":\"1\",\"name\":{\"familyName\":\"Jensen\"},\"emails\":[{\"value\": !!");
        Assert.True(UserSerializer.Instance.TryRead(cut, stopping, out var user, out var error), error?.ToString());
        Assert.Equal(("1", "Jensen"), (user!.Id, user.Name!.FamilyName));
        Assert.False(UserSerializer.Instance.TryRead(cut, whole, out _, out _));

        // No name: the reader goes on to the end looking for it, and the end is checked.
        var nameless = Encoding.UTF8.GetBytes("{\"id\":\"1\",\"emails\":[{\"value\":\"a@x\"}]} trailing");
        Assert.False(UserSerializer.Instance.TryRead(nameless, stopping, out _, out _));
        Assert.Equal(2, only.TopLevelCount);
        Assert.Equal(-1, ScimProjection.ForReading(ScimResourceTypes.User, [ScimResourceTypes.User.ResolvePath("schemas")!]).TopLevelCount);
    }
}
