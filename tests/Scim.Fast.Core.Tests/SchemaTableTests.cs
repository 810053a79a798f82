using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Tests;

/// <summary>The generated schema tables (RFC 7643 §7) and path resolution (RFC 7644 §3.10).</summary>
public sealed class SchemaTableTests
{
    [Theory]
    [InlineData("userName", "userName")]
    [InlineData("USERNAME", "userName")]
    [InlineData("name.givenName", "name.givenName")]
    [InlineData("Name.GivenName", "name.givenName")]
    [InlineData("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName", "name.givenName")]
    [InlineData("emails.value", "emails.value")]
    [InlineData("id", "id")]
    [InlineData("meta.lastModified", "meta.lastModified")]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "manager.value")]
    [InlineData("employeeNumber", "employeeNumber")]
    public void ResolvePath_FindsTheAttribute(string path, string expected)
    {
        var attribute = ScimResourceTypes.User.ResolvePath(path);

        Assert.NotNull(attribute);
        Assert.Equal(expected, attribute!.Path);
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("name.nope")]
    [InlineData("name.givenName.more")]
    [InlineData("urn:example:other:name")]
    [InlineData("")]
    [InlineData("urn:ietf:params:scim:schemas:core:2.0:User:employeeNumber")] // qualified with the core URN: not an extension attribute
    public void ResolvePath_UnknownIsNull(string path) => Assert.Null(ScimResourceTypes.User.ResolvePath(path));

    [Fact]
    public void Characteristics_ComeFromTheSchemaJson()
    {
        var userName = ScimResourceTypes.User.ResolvePath("userName")!;
        var password = ScimResourceTypes.User.ResolvePath("password")!;
        var groups = ScimResourceTypes.User.ResolvePath("groups")!;
        var id = ScimResourceTypes.User.ResolvePath("id")!;

        Assert.Equal(ScimUniqueness.Server, userName.Uniqueness);
        Assert.True(userName.Required);
        Assert.False(userName.CaseExact);
        Assert.Equal(ScimReturned.Never, password.Returned);
        Assert.Equal(ScimMutability.WriteOnly, password.Mutability);
        Assert.Equal(ScimMutability.ReadOnly, groups.Mutability);
        Assert.True(groups.MultiValued);
        Assert.Equal(ScimReturned.Always, id.Returned);
        Assert.Contains("work", ScimResourceTypes.User.ResolvePath("emails.type")!.CanonicalValues);
        Assert.Equal("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", ScimResourceTypes.User.ResolvePath("manager")!.SchemaId);
    }

    [Fact]
    public void Ordinals_AreDenseAndUnique()
    {
        foreach (var resourceType in ScimResourceTypes.All)
        {
            var seen = new HashSet<int>();
            for (int ordinal = 0; ordinal < resourceType.OrdinalCount; ordinal++)
            {
                var attribute = resourceType.AttributeAt(ordinal);
                if (attribute is null)
                {
                    Assert.Contains(resourceType.Extensions, e => e.Ordinal == ordinal);
                }
                else
                {
                    Assert.True(seen.Add(attribute.Ordinal));
                    Assert.Equal(ordinal, attribute.Ordinal);
                }
            }
        }
    }

    [Fact]
    public void ResourceTypes_MatchRfc7643Section8_6()
    {
        Assert.Equal(["User", "Group"], ScimResourceTypes.All.Select(r => r.Name));
        Assert.Equal("/Users", ScimResourceTypes.User.Endpoint);
        Assert.Equal("urn:ietf:params:scim:schemas:core:2.0:Group", ScimResourceTypes.Group.Schema.Id);
        Assert.Equal("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", Assert.Single(ScimResourceTypes.User.Extensions).Schema.Id);
    }
}
