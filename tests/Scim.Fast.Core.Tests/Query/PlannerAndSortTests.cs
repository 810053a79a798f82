using System.Text;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;

namespace Scim.Fast.Core.Tests.Query;

public sealed class FilterPlannerTests
{
    private static FilterNode Parse(string filter)
    {
        Assert.True(FilterParser.TryParse(filter, ScimResourceTypes.User, out var node, out var error), error?.ToString());
        return node!;
    }

    [Theory]
    [InlineData("userName eq \"a\"", "userName eq")]
    [InlineData("externalId eq \"a\" and active eq true", "externalId eq")]
    [InlineData("emails[value eq \"a@x\"] and title pr", "emails.value eq")]
    [InlineData("meta.lastModified gt \"2011-05-13T04:42:34Z\" and userName eq \"a\"", "meta.lastModified gt,userName eq")]
    [InlineData("id eq \"1\"", "id eq")]
    [InlineData("userName eq \"a\" or externalId eq \"b\"", "")]
    [InlineData("not (userName eq \"a\")", "")]
    [InlineData("userName ne \"a\"", "")]
    [InlineData("userName co \"a\"", "")]
    [InlineData("emails[value ne \"a\"]", "")]
    [InlineData("emails[type eq \"work\" and value eq \"a@x\"]", "emails.value eq")]
    [InlineData("emails[type eq \"work\"].value eq \"a@x\"", "emails.value eq")]
    [InlineData("emails[type eq \"work\" or value eq \"a@x\"]", "")]
    [InlineData("emails[not (value eq \"a@x\")]", "")]
    [InlineData("userName sw \"a\" and title eq \"x\"", "userName sw")]
    [InlineData("userName gt \"a\"", "")]                                  // folded order is not SCIM's: no range
    [InlineData("meta.lastModified le \"2011-05-13T04:42:34Z\"", "meta.lastModified le")]
    [InlineData("title eq \"x\"", "")]
    [InlineData("id gt \"a\" and name.familyName eq \"x\"", "id gt")]
    public void IndexableConjuncts_AreTheIndexedTermsThatMustHold(string filter, string expected)
    {
        var terms = FilterPlanner.IndexableConjuncts(Parse(filter), UserIndexes.Catalogue);

        Assert.Equal(expected, string.Join(",", terms.Select(t => t.Attribute.Path + " " + FilterParser.OperatorName(t.Operator))));
    }
}

public sealed class SortTests
{
    private static List<User> Users() =>
    [
        new() { Id = "3", UserName = "charlie", Name = new() { FamilyName = "Zed" }, Emails = [new() { Value = "z@x", Primary = false }, new() { Value = "a@x", Primary = true }] },
        new() { Id = "1", UserName = "Alice", Name = new() { FamilyName = "young" }, Emails = [new() { Value = "m@x" }] },
        new() { Id = "2", UserName = "bob" },
        new() { Id = "4", UserName = "alice2", Name = new() { FamilyName = "Adams" }, Meta = new() { LastModified = DateTimeOffset.Parse("2020-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture) } },
    ];

    private static string Sorted(string sortBy, string? order)
    {
        Assert.True(ScimSortComparer<User>.TryCreate(UserAccessor.Instance, sortBy, order, out var comparer, out var error), error?.ToString());
        var users = Users();
        users.Sort(comparer);
        return string.Join(",", users.Select(u => u.Id));
    }

    [Theory]
    [InlineData("userName", null, "1,4,2,3")]                 // case-insensitive: Alice, alice2, bob, charlie
    [InlineData("userName", "descending", "3,2,4,1")]
    [InlineData("name.familyName", "ascending", "4,1,3,2")]   // Adams, young, Zed; bob has none: last
    [InlineData("name.familyName", "descending", "3,1,4,2")]  // missing still last
    [InlineData("emails", null, "3,1,2,4")]                   // primary a@x, then m@x; no emails last, tie by id
    [InlineData("emails.value", null, "3,1,2,4")]
    [InlineData("meta.lastModified", null, "4,1,2,3")]
    [InlineData("id", "descending", "4,3,2,1")]
    public void SortBy_OrdersByTypeAndPrimaryValue(string sortBy, string? order, string expected) =>
        Assert.Equal(expected, Sorted(sortBy, order));

    [Theory]
    [InlineData("nope", null, ScimErrorType.InvalidPath)]
    [InlineData("userName", "sideways", ScimErrorType.InvalidValue)]
    [InlineData("name", null, ScimErrorType.InvalidValue)]
    public void BadSortParameters_Are400(string sortBy, string? order, ScimErrorType expected)
    {
        Assert.False(ScimSortComparer<User>.TryCreate(UserAccessor.Instance, sortBy, order, out _, out var error));
        Assert.Equal(expected, error!.Type);
    }
}
