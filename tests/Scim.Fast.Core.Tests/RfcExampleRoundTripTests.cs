using System.Text;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests;

/// <summary>The RFC 7643 §8 examples read and write back as the same JSON.</summary>
public sealed class RfcExampleRoundTripTests
{
    [Theory]
    [InlineData("rfc7643-8.1-minimal-user.json")]
    [InlineData("rfc7643-8.2-full-user.json")]
    [InlineData("rfc7643-8.3-enterprise-user.json")]
    public void UserExample_ReadThenWrite_IsSemanticallyEqual(string fixture)
    {
        string json = TestJson.Fixture(fixture);

        Assert.True(UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), ScimReadOptions.Trusted, out var user, out var error), error?.ToString());
        string written = TestJson.WriteUser(user);

        // "password" is returned "never" (RFC 7643 §4.1.1): the only member that must not come back.
        var expected = JsonNode.Parse(json)!.AsObject();
        expected.Remove("password");
        TestJson.AssertSemanticallyEqual(expected, JsonNode.Parse(written));
    }

    [Fact]
    public void GroupExample_ReadThenWrite_IsSemanticallyEqual()
    {
        string json = TestJson.Fixture("rfc7643-8.4-group.json");

        Assert.True(GroupSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), ScimReadOptions.Trusted, out var group, out var error), error?.ToString());

        TestJson.AssertSemanticallyEqual(JsonNode.Parse(json), JsonNode.Parse(TestJson.WriteGroup(group)));
    }

    [Fact]
    public void FullUser_ReadsEveryAttributeIntoTheModel()
    {
        string json = TestJson.Fixture("rfc7643-8.2-full-user.json");

        Assert.True(UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), ScimReadOptions.Trusted, out var user, out _));

        Assert.Equal("2819c223-7f76-453a-919d-413861904646", user.Id);
        Assert.Equal("bjensen@example.com", user.UserName);
        Assert.Equal("Babs Jensen", user.DisplayName);
        Assert.Equal("Barbara", user.Name!.GivenName);
        Assert.Equal(2, user.Emails!.Count);
        Assert.True(user.Emails[0].Primary);
        Assert.Equal("t1meMa$heen", user.Password);
        Assert.True(user.Active);
        Assert.Equal(new DateTimeOffset(2010, 1, 23, 4, 56, 22, TimeSpan.Zero), user.Meta!.Created);
        Assert.Equal("User", user.Meta.ResourceType);
        Assert.Equal(3, user.Groups!.Count);
        Assert.NotNull(user.X509Certificates![0].Value);
    }

    [Fact]
    public void EnterpriseUser_ReadsTheExtensionBlock()
    {
        string json = TestJson.Fixture("rfc7643-8.3-enterprise-user.json");

        Assert.True(UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), ScimReadOptions.Trusted, out var user, out _));

        Assert.NotNull(user.EnterpriseUser);
        Assert.Equal("701984", user.EnterpriseUser!.EmployeeNumber);
        Assert.Equal("26118915-6090-4610-87e4-49d8ca9f808d", user.EnterpriseUser.Manager!.Value);
    }

    [Theory]
    [InlineData("rfc7643-8.2-full-user.json", 1)]
    [InlineData("rfc7643-8.3-enterprise-user.json", 7)]
    [InlineData("rfc7643-8.2-full-user.json", 64)]
    public void MultiSegmentInput_ReadsTheSameAsContiguous(string fixture, int segmentSize)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(TestJson.Fixture(fixture));
        Assert.True(UserSerializer.Instance.TryRead(bytes, ScimReadOptions.Trusted, out var contiguous, out _));

        Assert.True(UserSerializer.Instance.TryRead(TestJson.Segmented(bytes, segmentSize), ScimReadOptions.Trusted, out var segmented, out var error), error?.ToString());

        Assert.Equal(TestJson.WriteUser(contiguous, ScimProjection.Everything(UserSerializer.Instance.ResourceType)), TestJson.WriteUser(segmented, ScimProjection.Everything(UserSerializer.Instance.ResourceType)));
    }
}
