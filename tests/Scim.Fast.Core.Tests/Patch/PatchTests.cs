using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Patch;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests.Patch;

/// <summary>RFC 7644 §3.5.2 PATCH, the examples of the RFC and what identity providers send.</summary>
public sealed class PatchTests
{
    private static readonly ScimPatcher<User> s_users = new(UserSerializer.Instance);
    private static readonly ScimPatcher<Group> s_groups = new(GroupSerializer.Instance, deltaAttribute: "members");

    private static User Babs()
    {
        Assert.True(UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.3-enterprise-user.json")), ScimReadOptions.Trusted, out var user, out _));
        return user!;
    }

    private static Group Tour()
    {
        Assert.True(GroupSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.4-group.json")), ScimReadOptions.Trusted, out var group, out _));
        return group!;
    }

    private static ScimPatchRequest Request(string operations)
    {
        string body = $$"""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":{{operations}}}""";
        Assert.True(ScimPatchRequest.TryParse(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), out var request, out var error), error?.ToString());
        return request!;
    }

    private static (User User, ScimPatchResult<User> Result) Patch(User user, string operations)
    {
        Assert.True(s_users.TryApply(user, Request(operations), out var result, out var error), error?.ToString());
        return (result!.Resource, result);
    }

    private static ScimError Fails(User user, string operations)
    {
        string before = TestJson.WriteUser(user, ScimProjection.Everything(ScimResourceTypes.User));
        Assert.False(s_users.TryApply(user, Request(operations), out _, out var error));
        Assert.Equal(before, TestJson.WriteUser(user, ScimProjection.Everything(ScimResourceTypes.User)));
        return error!;
    }

    private static JsonObject Json(User user) => JsonNode.Parse(TestJson.WriteUser(user))!.AsObject();

    // ----- RFC 7644 §3.5.2 examples -----

    [Fact]
    public void Rfc_AddMembers_IsADelta()
    {
        var request = Request("""[{"op":"add","path":"members","value":[{"display":"Babs Jensen","$ref":"https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646","value":"2819c223-7f76-453a-919d-413861904646"}]}]""");

        Assert.True(s_groups.TryApply(Tour(), request, out var result, out _));

        Assert.Equal(["2819c223-7f76-453a-919d-413861904646"], result!.Members.Added.Select(m => (string?)m["value"]));
        Assert.False(result.Members.RemoveAll);
        Assert.True(result.Changed);
        Assert.Null(result.Resource.Members);
        Assert.Equal("Tour Guides", result.Resource.DisplayName);
    }

    [Fact]
    public void Rfc_AddWithoutPath_AddsEachAttribute()
    {
        var (user, _) = Patch(Babs(), """[{"op":"add","value":{"emails":[{"value":"babs@jensen.org","type":"home"}],"nickName":"Babs"}}]""");

        Assert.Equal("Babs", user.NickName);
        Assert.Equal(2, user.Emails!.Count); // the home address existed already: no duplicate
        Assert.Contains(user.Emails, e => e.Value == "babs@jensen.org");
    }

    [Fact]
    public void Rfc_RemoveAllMembers_IsRemoveAll()
    {
        Assert.True(s_groups.TryApply(Tour(), Request("""[{"op":"remove","path":"members"}]"""), out var result, out _));

        Assert.True(result!.Members.RemoveAll);
    }

    [Fact]
    public void Rfc_RemoveOneMember_ByFilter()
    {
        Assert.True(s_groups.TryApply(Tour(), Request("""[{"op":"remove","path":"members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"}]"""), out var result, out _));

        Assert.Equal(["2819c223-7f76-453a-919d-413861904646"], result!.Members.Removed);
    }

    [Fact]
    public void Rfc_RemoveThenAddMembers_KeepsOrder()
    {
        var request = Request("""
            [{"op":"remove","path":"members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"},
             {"op":"add","path":"members","value":[{"display":"James Smith","value":"08e1d05d-121c-4561-8b96-473d93df9210"}]},
             {"op":"add","path":"members","value":[{"value":"2819c223-7f76-453a-919d-413861904646"}]}]
            """);

        Assert.True(s_groups.TryApply(Tour(), request, out var result, out _));

        Assert.Equal(["08e1d05d-121c-4561-8b96-473d93df9210", "2819c223-7f76-453a-919d-413861904646"], result!.Members.Added.Select(m => (string?)m["value"]).Order());
        Assert.Empty(result.Members.Removed);
    }

    [Fact]
    public void Rfc_ReplaceAllMembers_ByRemoveThenAdd()
    {
        var request = Request("""
            [{"op":"remove","path":"members"},
             {"op":"add","path":"members","value":[{"display":"Babs Jensen","value":"2819c223"},{"display":"James Smith","value":"08e1d05d"}]}]
            """);

        Assert.True(s_groups.TryApply(Tour(), request, out var result, out _));

        Assert.True(result!.Members.RemoveAll);
        Assert.Equal(["08e1d05d", "2819c223"], result.Members.Added.Select(m => (string?)m["value"]).Order());
    }

    [Fact]
    public void Rfc_RemoveSeveralMembers_ByFilters()
    {
        var request = Request("""[{"op":"remove","path":"members[value eq \"2819c223\"]"},{"op":"remove","path":"members[value eq \"902c246b\" or value eq \"08e1d05d\"]"}]""");

        Assert.True(s_groups.TryApply(Tour(), request, out var result, out _));

        Assert.Equal(["08e1d05d", "2819c223", "902c246b"], result!.Members.Removed.Order());
    }

    [Fact]
    public void Rfc_RemoveAnExtensionAttribute_ByQualifiedPath()
    {
        var (user, _) = Patch(Babs(), """[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"},{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]""");

        Assert.Null(user.EnterpriseUser!.EmployeeNumber);
        Assert.Null(user.EnterpriseUser.Manager);
        Assert.Equal("Tour Operations", user.EnterpriseUser.Department);
    }

    [Fact]
    public void RemovingTheLastExtensionAttribute_DropsTheExtension()
    {
        var (user, _) = Patch(Babs(), """[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}]""");

        Assert.Null(user.EnterpriseUser);
        Assert.DoesNotContain("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", TestJson.WriteUser(user), StringComparison.Ordinal);
    }

    [Fact]
    public void Rfc_RemoveComplexValues_ByFilter()
    {
        var (user, _) = Patch(Babs(), """[{"op":"remove","path":"emails[type eq \"work\" and value ew \"example.com\"]"}]""");

        Assert.Equal(["babs@jensen.org"], user.Emails!.Select(e => e.Value));
    }

    [Fact]
    public void Rfc_ReplaceMembers_IsRemoveAllThenAdd()
    {
        Assert.True(s_groups.TryApply(Tour(), Request("""[{"op":"replace","path":"members","value":[{"display":"Babs Jensen","value":"2819c223"},{"display":"James Smith","value":"08e1d05d"}]}]"""), out var result, out _));

        Assert.True(result!.Members.RemoveAll);
        Assert.Equal(["08e1d05d", "2819c223"], result.Members.Added.Select(m => (string?)m["value"]).Order());
    }

    [Fact]
    public void Rfc_ReplaceWorkAddress_ByFilter()
    {
        var (user, _) = Patch(Babs(), """[{"op":"replace","path":"addresses[type eq \"work\"]","value":{"type":"work","streetAddress":"911 Universal City Plaza","locality":"Hollywood","region":"CA","postalCode":"91608","country":"US","formatted":"911 Universal City Plaza\nHollywood, CA 91608 US","primary":true}}]""");

        var work = Assert.Single(user.Addresses!, a => a.Type == "work");
        Assert.Equal("911 Universal City Plaza", work.StreetAddress);
        Assert.Equal(2, user.Addresses!.Count);
    }

    [Fact]
    public void Rfc_ReplaceASubAttribute_ByFilter()
    {
        var (user, _) = Patch(Babs(), """[{"op":"replace","path":"addresses[type eq \"work\"].streetAddress","value":"1010 Broadway Ave"}]""");

        Assert.Equal("1010 Broadway Ave", user.Addresses!.Single(a => a.Type == "work").StreetAddress);
        Assert.Equal("Hollywood", user.Addresses!.Single(a => a.Type == "work").Locality);
    }

    [Fact]
    public void Rfc_ReplaceWithoutPath_ReplacesEachAttribute()
    {
        var (user, _) = Patch(Babs(), """[{"op":"replace","value":{"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}],"nickName":"Babs"}}]""");

        Assert.Equal("Babs", user.NickName);
        Assert.Equal(["bjensen@example.com", "babs@jensen.org"], user.Emails!.Select(e => e.Value));
    }

    // ----- What identity providers send -----

    [Theory]
    [InlineData("""[{"op":"Replace","path":"active","value":"False"}]""")]
    [InlineData("""[{"op":"replace","path":"active","value":false}]""")]
    [InlineData("""[{"op":"replace","value":{"active":false}}]""")]
    [InlineData("""[{"Op":"REPLACE","Path":"Active","Value":"false"}]""")]
    public void Deactivation_InEveryDialect(string operations)
    {
        var (user, result) = Patch(Babs(), operations);

        Assert.False(user.Active);
        Assert.True(result.Changed);
    }

    [Fact]
    public void PathlessReplace_WithPathKeys_AsEntraSendsThem()
    {
        var (user, _) = Patch(Babs(), """[{"op":"Replace","value":{"name.givenName":"Barbara-Ann","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales","DisplayName":"B"}}]""");

        Assert.Equal("Barbara-Ann", user.Name!.GivenName);
        Assert.Equal("Jensen", user.Name.FamilyName);
        Assert.Equal("Sales", user.EnterpriseUser!.Department);
        Assert.Equal("B", user.DisplayName);
    }

    [Fact]
    public void ExtensionBlock_InAPathlessValue_IsMerged()
    {
        var (user, _) = Patch(Babs(), """[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"costCenter":"99"}}}]""");

        Assert.Equal("99", user.EnterpriseUser!.CostCenter);
        Assert.Equal("701984", user.EnterpriseUser.EmployeeNumber);
    }

    [Fact]
    public void Manager_AsABareString()
    {
        var (user, _) = Patch(Babs(), """[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m-42"}]""");

        Assert.Equal("m-42", user.EnterpriseUser!.Manager!.Value);
    }

    [Fact]
    public void EntraWorkEmail_IsCreated_WhenNoneExists()
    {
        var user = Babs();
        user.Emails = null;

        var (patched, _) = Patch(user, """[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@example.com"},{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555"}]""");

        var email = Assert.Single(patched.Emails!);
        Assert.Equal(("work", "new@example.com"), (email.Type, email.Value));
        Assert.Contains(patched.PhoneNumbers!, p => p.Type == "mobile" && p.Value == "+1 555");
    }

    [Fact]
    public void EntraRemoveMembers_WithAValueArray()
    {
        Assert.True(s_groups.TryApply(Tour(), Request("""[{"op":"Remove","path":"members","value":[{"value":"2819c223-7f76-453a-919d-413861904646"},{"value":"902c246b"}]}]"""), out var result, out _));

        Assert.Equal(["2819c223-7f76-453a-919d-413861904646", "902c246b"], result!.Members.Removed.Order());
        Assert.False(result.Members.RemoveAll);
    }

    [Fact]
    public void OktaGroupPush_ReplaceMembersEmpty_EmptiesTheGroup()
    {
        Assert.True(s_groups.TryApply(Tour(), Request("""[{"op":"replace","path":"members","value":[]}]"""), out var result, out _));

        Assert.True(result!.Members.RemoveAll);
        Assert.Empty(result.Members.Added);
    }

    [Fact]
    public void ZeroOperations_ChangeNothing()
    {
        var (_, result) = Patch(Babs(), "[]");

        Assert.False(result.Changed);
    }

    [Fact]
    public void SettingTheSameValue_IsNotAChange()
    {
        var (_, result) = Patch(Babs(), """[{"op":"replace","path":"userName","value":"bjensen@example.com"}]""");

        Assert.False(result.Changed);
    }

    [Fact]
    public void NewPrimaryValue_ClearsTheOtherPrimary()
    {
        var (user, _) = Patch(Babs(), """[{"op":"add","path":"emails","value":[{"value":"new@x","type":"other","Primary":true}]}]""");

        Assert.Equal(["new@x"], user.Emails!.Where(e => e.Primary == true).Select(e => e.Value));
    }

    [Fact]
    public void PrimaryBySubAttribute_ClearsTheOtherPrimary()
    {
        var (user, _) = Patch(Babs(), """[{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}]""");

        Assert.Equal(["babs@jensen.org"], user.Emails!.Where(e => e.Primary == true).Select(e => e.Value));
    }

    [Fact]
    public void OktaPathlessReplace_WithTheResourcesOwnId_IsAccepted()
    {
        var (user, _) = Patch(Babs(), """[{"op":"replace","value":{"id":"2819c223-7f76-453a-919d-413861904646","displayName":"Babs J"}}]""");

        Assert.Equal("Babs J", user.DisplayName);
    }

    [Fact]
    public void LegacyManagerArray_IsItsValue()
    {
        var (user, _) = Patch(Babs(), """[{"op":"add","path":"manager","value":[{"$ref":"../Users/9a4d7e21","value":"9a4d7e21"}]}]""");

        Assert.Equal("9a4d7e21", user.EnterpriseUser!.Manager!.Value);
    }

    [Fact]
    public void ReadOnlySubAttributesInAValue_AreIgnored()
    {
        var (user, _) = Patch(Babs(), """[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m","displayName":"Forged"}}]""");

        Assert.Equal("m", user.EnterpriseUser!.Manager!.Value);
        Assert.Equal("John Smith", user.EnterpriseUser.Manager.DisplayName); // readOnly: kept as the server had it
    }

    [Theory]
    [InlineData("""[{"op":"replace","value":{"title":null}}]""")]
    [InlineData("""[{"op":"Replace","path":"title","value":null}]""")]
    [InlineData("""[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":null}, "title": null}}]""")]
    public void ExplicitNull_Unassigns(string operations)
    {
        var (user, _) = Patch(Babs(), operations);

        Assert.Null(user.Title);
        if (operations.Contains("department", StringComparison.Ordinal))
        {
            Assert.Null(user.EnterpriseUser!.Department);
        }
    }

    [Fact]
    public void RemovingEverySubAttributeOfAnElement_RemovesTheElement()
    {
        var (user, _) = Patch(Babs(), """[{"op":"remove","path":"emails[type eq \"work\"].value"},{"op":"remove","path":"emails[type eq \"work\"].primary"},{"op":"remove","path":"emails[value pr]"},{"op":"remove","path":"emails[type eq \"work\"].type"}]""");

        Assert.Null(user.Emails);
    }

    // ----- Errors, and atomicity -----

    [Fact]
    public void RemoveWithoutPath_IsNoTarget() => Assert.Equal(ScimErrorType.NoTarget, Fails(Babs(), """[{"op":"remove"}]""").Type);

    [Theory]
    [InlineData("""[{"op":"replace","path":"emails[type eq \"pager\"]","value":{"value":"x"}}]""")]
    [InlineData("""[{"op":"remove","path":"emails[type eq \"pager\"]"}]""")]
    [InlineData("""[{"op":"replace","path":"emails[value co \"nowhere\"].type","value":"x"}]""")]
    public void FilterMatchingNothing_IsNoTarget(string operations) => Assert.Equal(ScimErrorType.NoTarget, Fails(Babs(), operations).Type);

    [Theory]
    [InlineData("""[{"op":"replace","path":"id","value":"mine"}]""")]
    [InlineData("""[{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}]""")]
    [InlineData("""[{"op":"add","path":"groups","value":[{"value":"g"}]}]""")]
    [InlineData("""[{"op":"remove","path":"userName"}]""")]
    [InlineData("""[{"op":"replace","value":{"id":"mine"}}]""")]
    public void ReadOnlyAndRequired_AreMutability(string operations) => Assert.Equal(ScimErrorType.Mutability, Fails(Babs(), operations).Type);

    [Theory]
    [InlineData("""[{"op":"replace","path":"noSuchThing","value":"x"}]""", ScimErrorType.InvalidPath)]
    [InlineData("""[{"op":"replace","path":"name.noSuch","value":"x"}]""", ScimErrorType.InvalidPath)]
    [InlineData("""[{"op":"replace","path":"emails.value","value":"x"}]""", ScimErrorType.InvalidPath)]
    [InlineData("""[{"op":"replace","path":"emails[type eq \"work\"].nope","value":"x"}]""", ScimErrorType.InvalidPath)]
    [InlineData("""[{"op":"replace","path":"emails[type xx \"work\"]","value":{}}]""", ScimErrorType.InvalidFilter)]
    [InlineData("""[{"op":"replace","path":"emails[type eq \"work\"","value":{}}]""", ScimErrorType.InvalidPath)]
    [InlineData("""[{"op":"replace","path":"active","value":"maybe"}]""", ScimErrorType.InvalidValue)]
    [InlineData("""[{"op":"replace","path":"userName","value":42}]""", ScimErrorType.InvalidValue)]
    [InlineData("""[{"op":"add","path":"nickName"}]""", ScimErrorType.InvalidValue)]
    [InlineData("""[{"op":"remove","path":"[type eq \"work\"]"}]""", ScimErrorType.InvalidPath)]
    [InlineData("""[{"op":"remove","path":"nope[type eq \"work\"]"}]""", ScimErrorType.InvalidPath)]
    [InlineData("""[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:employeeNumber","value":"1"}]""", ScimErrorType.InvalidPath)]
    public void BadOperations_AreClearErrors(string operations, ScimErrorType expected) => Assert.Equal(expected, Fails(Babs(), operations).Type);

    [Fact]
    public void AllOperationsApplyAtomically()
    {
        var user = Babs();

        var error = Fails(user, """[{"op":"replace","path":"nickName","value":"Changed"},{"op":"replace","path":"displayName","value":"Changed"},{"op":"remove","path":"userName"}]""");

        Assert.Equal(ScimErrorType.Mutability, error.Type);
        Assert.Equal("Babs", user.NickName);
    }

    [Fact]
    public void TheInputResource_IsNeverModified()
    {
        var user = Babs();
        string before = TestJson.WriteUser(user);

        Patch(user, """[{"op":"replace","path":"nickName","value":"X"},{"op":"remove","path":"emails[type eq \"home\"]"}]""");

        Assert.Equal(before, TestJson.WriteUser(user));
    }

    [Theory]
    [InlineData("""{"Operations":[]}""", ScimErrorType.InvalidSyntax)]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}""", ScimErrorType.InvalidSyntax)]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":{}}""", ScimErrorType.InvalidSyntax)]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"move","path":"x"}]}""", ScimErrorType.InvalidSyntax)]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":5}]}""", ScimErrorType.InvalidPath)]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[""", ScimErrorType.InvalidSyntax)]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"schemas":[],"Operations":[]}""", ScimErrorType.InvalidSyntax)]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails","value":[{"value":"a","value":"b"}]}]}""", ScimErrorType.InvalidSyntax)]
    [InlineData("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]} garbage""", ScimErrorType.InvalidSyntax)]
    [InlineData("""[]""", ScimErrorType.InvalidSyntax)]
    public void MalformedPatchBodies_AreRejected(string body, ScimErrorType expected)
    {
        Assert.False(ScimPatchRequest.TryParse(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), out _, out var error));
        Assert.Equal(expected, error!.Type);
    }

    [Theory]
    [InlineData("""[{"op":"add","path":"members[value eq \"x\"].display","value":"y"}]""", ScimErrorType.Mutability)]
    [InlineData("""[{"op":"remove","path":"members[type eq \"Group\"]"}]""", ScimErrorType.InvalidFilter)]
    [InlineData("""[{"op":"add","path":"members","value":[{"display":"no id"}]}]""", ScimErrorType.InvalidValue)]
    public void MemberOperations_TheStoreCannotAnswer_AreRejected(string operations, ScimErrorType expected)
    {
        Assert.False(s_groups.TryApply(Tour(), Request(operations), out _, out var error));
        Assert.Equal(expected, error!.Type);
    }
}
