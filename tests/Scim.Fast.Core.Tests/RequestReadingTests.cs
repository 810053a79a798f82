using System.Text;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests;

/// <summary>How the generated reader treats what clients send (RFC 7643 §2, §3; identity-provider habits).</summary>
public sealed class RequestReadingTests
{
    private const string CoreUrn = "urn:ietf:params:scim:schemas:core:2.0:User";
    private const string EnterpriseUrn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    private static User Read(string json, ScimReadOptions? options = null)
    {
        bool ok = UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), options ?? ScimReadOptions.Request, out var user, out var error);
        Assert.True(ok, error?.ToString());
        return user!;
    }

    private static ScimError Fail(string json, ScimReadOptions? options = null)
    {
        bool ok = UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), options ?? ScimReadOptions.Request, out _, out var error);
        Assert.False(ok);
        Assert.Equal(400, error!.Status);
        return error;
    }

    [Fact]
    public void AttributeNames_AreCaseInsensitive()
    {
        var user = Read($$"""{"SCHEMAS":["{{CoreUrn}}"],"UserName":"a","NAME":{"GivenName":"Ada"},"Emails":[{"Value":"a@x","Primary":true}]}""");

        Assert.Equal("a", user.UserName);
        Assert.Equal("Ada", user.Name!.GivenName);
        Assert.Equal("a@x", user.Emails![0].Value);
        Assert.True(user.Emails[0].Primary);
    }

    [Fact]
    public void SchemaUrns_AreCaseInsensitive()
    {
        var user = Read("""{"schemas":["URN:IETF:params:scim:schemas:core:2.0:user"],"userName":"a"}""");

        Assert.Equal("a", user.UserName);
    }

    [Fact]
    public void ReadOnlyAttributes_AreIgnoredOnInput()
    {
        var user = Read($$"""{"schemas":["{{CoreUrn}}"],"id":"client-chosen","meta":{"version":"W/\"1\""},"groups":[{"value":"g"}],"userName":"a"}""");

        Assert.Null(user.Id);
        Assert.Null(user.Meta);
        Assert.Null(user.Groups);
        Assert.Equal("a", user.UserName);
    }

    [Fact]
    public void TrustedOptions_ReadReadOnlyAttributes()
    {
        var user = Read($$"""{"id":"server-id","meta":{"version":"W/\"1\""},"userName":"a"}""", ScimReadOptions.Trusted);

        Assert.Equal("server-id", user.Id);
        Assert.Equal("W/\"1\"", user.Meta!.Version);
    }

    [Fact]
    public void FullyQualifiedNames_AreRead()
    {
        var user = Read($$"""{"schemas":["{{CoreUrn}}","{{EnterpriseUrn}}"],"{{CoreUrn}}:userName":"a","{{EnterpriseUrn}}:employeeNumber":"42"}""");

        Assert.Equal("a", user.UserName);
        Assert.Equal("42", user.EnterpriseUser!.EmployeeNumber);
    }

    [Fact]
    public void ExtensionBlock_IsReadIntoTheTypedMember()
    {
        var user = Read($$$$"""{"schemas":["{{{{CoreUrn}}}}","{{{{EnterpriseUrn}}}}"],"userName":"a","{{{{EnterpriseUrn}}}}":{"department":"R&D","manager":{"value":"m1"}}}""");

        Assert.Equal("R&D", user.EnterpriseUser!.Department);
        Assert.Equal("m1", user.EnterpriseUser.Manager!.Value);
    }

    [Fact]
    public void Manager_AsABareString_IsItsValue()
    {
        var user = Read($$$"""{"schemas":["{{{CoreUrn}}}"],"userName":"a","{{{EnterpriseUrn}}}":{"manager":"m2"}}""");

        Assert.Equal("m2", user.EnterpriseUser!.Manager!.Value);
    }

    [Theory]
    [InlineData("\"True\"", true)]
    [InlineData("\"False\"", false)]
    [InlineData("\"true\"", true)]
    [InlineData("false", false)]
    public void Booleans_AcceptEntraStrings(string json, bool expected)
    {
        var user = Read($$"""{"schemas":["{{CoreUrn}}"],"userName":"a","active":{{json}}}""");

        Assert.Equal(expected, user.Active);
    }

    [Fact]
    public void NullAndEmptyArray_BothMeanUnassigned()
    {
        var user = Read($$"""{"schemas":["{{CoreUrn}}"],"userName":"a","title":null,"addresses":null,"emails":[],"phoneNumbers":[null]}""");

        Assert.Null(user.Title);
        Assert.Null(user.Addresses);
        Assert.Null(user.Emails);
        Assert.Null(user.PhoneNumbers);
    }

    [Fact]
    public void UnknownAttributesAndSchemas_AreIgnoredByDefault()
    {
        var user = Read($$$"""{"schemas":["{{{CoreUrn}}}","urn:example:unknown"],"userName":"a","favouriteColour":{"deep":[1,2,{"x":null}]},"urn:example:unknown":{"a":1},"name":{"nickname2":"x","givenName":"G"}}""");

        Assert.Equal("a", user.UserName);
        Assert.Equal("G", user.Name!.GivenName);
    }

    [Theory]
    [InlineData("\"favouriteColour\":1", "favouriteColour")]
    [InlineData("\"name\":{\"middle\":\"x\"}", "name.middle")]
    [InlineData("\"urn:example:unknown\":{}", "urn:example:unknown")]
    public void StrictOptions_RejectUnknownAttributes_NamingThem(string member, string named)
    {
        var error = Fail($$"""{"schemas":["{{CoreUrn}}"],"userName":"a",{{member}}}""", ScimReadOptions.StrictRequest);

        Assert.Equal(ScimErrorType.InvalidSyntax, error.Type);
        Assert.Contains(named, error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void StrictOptions_HugeUnknownName_IsNotEchoedWhole()
    {
        string name = new('q', 100_000);

        var error = Fail($$"""{"schemas":["{{CoreUrn}}"],"{{name}}":1}""", ScimReadOptions.StrictRequest);

        Assert.True(error.Detail.Length < 300, $"detail is {error.Detail.Length} chars");
    }

    [Fact]
    public void StrictOptions_RejectUnknownSchemaUrns()
    {
        var error = Fail($$"""{"schemas":["{{CoreUrn}}","urn:example:nope"],"userName":"a"}""", ScimReadOptions.StrictRequest);

        Assert.Equal(ScimErrorType.InvalidSyntax, error.Type);
        Assert.Contains("urn:example:nope", error.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"userName":"a"}""")]
    [InlineData("""{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"userName":"a"}""")]
    [InlineData("""{"schemas":"urn:ietf:params:scim:schemas:core:2.0:User","userName":"a"}""")]
    [InlineData("""{"schemas":[1],"userName":"a"}""")]
    public void Schemas_MustNameTheCoreSchema(string json)
    {
        var error = Fail(json);

        Assert.True(error.Type is ScimErrorType.InvalidSyntax or ScimErrorType.InvalidValue, error.ToString());
        Assert.Contains("schemas", error.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"userName\":5", "userName")]
    [InlineData("\"active\":\"yes\"", "active")]
    [InlineData("\"name\":[]", "name")]
    [InlineData("\"emails\":{\"value\":\"a\"}", "emails")]
    [InlineData("\"emails\":[\"a@x\"]", "emails")]
    [InlineData("\"emails\":[{\"value\":1}]", "emails.value")]
    [InlineData("\"emails\":[{\"primary\":\"maybe\"}]", "emails.primary")]
    [InlineData("\"x509Certificates\":[{\"value\":\"not base64!\"}]", "x509Certificates.value")]
    [InlineData("\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"manager\":5}", "manager")]
    [InlineData("\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":\"x\"", "enterprise")]
    public void WrongJsonType_IsInvalidValueNamingTheAttribute(string member, string named)
    {
        var error = Fail($$"""{"schemas":["{{CoreUrn}}"],"userName":"a",{{member}}}""");

        Assert.Equal(ScimErrorType.InvalidValue, error.Type);
        Assert.Contains(named, error.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("[]")]
    [InlineData("\"user\"")]
    [InlineData("{")]
    [InlineData("{\"userName\":")]
    [InlineData("{\"userName\":\"a\"")]
    [InlineData("{\"userName\":\"a\",}")]
    [InlineData("{\"userName\":'a'}")]
    [InlineData("{\"userName\":\"a\"} {}")]
    [InlineData("{\"userName\":\"a\"}garbage")]
    [InlineData("{\"userName\":\"\\q\"}")]
    [InlineData("{\"userName\":\"\\uZZZZ\"}")]
    [InlineData("{/*comment*/\"userName\":\"a\"}")]
    public void MalformedJson_IsInvalidSyntax(string json)
    {
        var error = Fail(json);

        Assert.Equal(ScimErrorType.InvalidSyntax, error.Type);
    }

    [Fact]
    public void InvalidUtf8_IsInvalidSyntax()
    {
        byte[] prefix = Encoding.UTF8.GetBytes($$"""{"schemas":["{{CoreUrn}}"],"userName":"a""");
        byte[] json = [.. prefix, 0xC3, 0x28, .. "\"}"u8.ToArray()];

        bool ok = UserSerializer.Instance.TryRead(json, ScimReadOptions.Request, out _, out var error);

        Assert.False(ok);
        Assert.Equal(ScimErrorType.InvalidSyntax, error!.Type);
    }

    [Fact]
    public void DeepNesting_IsInvalidSyntax_NotAStackOverflow()
    {
        string deep = new string('[', 100_000) + new string(']', 100_000);

        var error = Fail($$"""{"schemas":["{{CoreUrn}}"],"userName":"a","unknown":{{deep}}}""");

        Assert.Equal(ScimErrorType.InvalidSyntax, error.Type);
    }

    [Fact]
    public void HugeString_IsReadWhole()
    {
        string huge = new('x', 10 * 1024 * 1024);

        var user = Read($$"""{"schemas":["{{CoreUrn}}"],"userName":"{{huge}}"}""");

        Assert.Equal(huge.Length, user.UserName!.Length);
    }

    [Theory]
    [InlineData("2010-01-23T04:56:22Z", "2010-01-23T04:56:22+00:00")]
    [InlineData("2015-10-10T14:38:21-07:00", "2015-10-10T21:38:21+00:00")]
    [InlineData("2011-05-13T04:42:34.123Z", "2011-05-13T04:42:34.1230000+00:00")]
    [InlineData("2011-05-13T04:42:34", "2011-05-13T04:42:34+00:00")]
    public void DateTimes_AreXsdDateTimes_NoOffsetMeansUtc(string text, string instant)
    {
        var user = Read($$$"""{"meta":{"created":"{{{text}}}"}}""", ScimReadOptions.Trusted);

        Assert.Equal(DateTimeOffset.Parse(instant, System.Globalization.CultureInfo.InvariantCulture), user.Meta!.Created);
    }

    [Theory]
    [InlineData("yesterday")]
    [InlineData("1/2/2010")]
    [InlineData("2010-13-01T00:00:00Z")]
    public void BadDateTimes_AreInvalidValue(string text)
    {
        bool ok = UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes($$$"""{"meta":{"created":"{{{text}}}"}}"""), ScimReadOptions.Trusted, out _, out var error);

        Assert.False(ok);
        Assert.Equal(ScimErrorType.InvalidValue, error!.Type);
        Assert.Contains("meta.created", error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void EscapedNames_AreMatched()
    {
        var user = Read($$"""{"schemas":["{{CoreUrn}}"],"user\u004eame":"a"}""");

        Assert.Equal("a", user.UserName);
    }

    [Fact]
    public void GroupMembers_AreRead()
    {
        string json = """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Admins","members":[{"value":"u1","type":"User"},{"value":"u2"}]}""";

        Assert.True(GroupSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), ScimReadOptions.Request, out var group, out var error), error?.ToString());

        Assert.Equal("Admins", group!.DisplayName);
        Assert.Equal(["u1", "u2"], group.Members!.Select(m => m.Value));
    }
}
