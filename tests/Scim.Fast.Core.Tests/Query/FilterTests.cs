using System.Text;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests.Query;

/// <summary>The filter language of RFC 7644 §3.4.2.2, parsed, typed and evaluated.</summary>
public sealed class FilterTests
{
    private static readonly User s_babs = Load("rfc7643-8.2-full-user.json");
    private static readonly User s_enterprise = Load("rfc7643-8.3-enterprise-user.json");

    private static User Load(string fixture)
    {
        Assert.True(UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(TestJson.Fixture(fixture)), ScimReadOptions.Trusted, out var user, out _));
        return user!;
    }

    private static FilterNode Parse(string filter)
    {
        Assert.True(FilterParser.TryParse(filter, ScimResourceTypes.User, out var node, out var error), error?.ToString());
        return node!;
    }

    private static bool Matches(string filter, User user) =>
        CompiledFilter<User>.Compile(Parse(filter), UserAccessor.Instance).Matches(user);

    private static ScimError Invalid(string filter)
    {
        Assert.False(FilterParser.TryParse(filter, ScimResourceTypes.User, out _, out var error), $"'{filter}' was accepted");
        Assert.Equal(400, error!.Status);
        Assert.Equal(ScimErrorType.InvalidFilter, error.Type);
        return error;
    }

    // Every example filter of RFC 7644 §3.4.2.2, with its truth value for the §8.2 full user
    // (userName "bjensen@example.com", familyName "Jensen", title "Tour Guide", userType "Employee",
    // emails work bjensen@example.com and home babs@jensen.org, ims aim "someaimhandle",
    // meta.lastModified 2011-05-13T04:42:34Z).
    [Theory]
    [InlineData("userName eq \"bjensen@example.com\"", true)]
    [InlineData("userName eq \"bjensen\"", false)]
    [InlineData("name.familyName co \"O'Malley\"", false)]
    [InlineData("name.familyName co \"ens\"", true)]
    [InlineData("userName sw \"J\"", false)]
    [InlineData("userName sw \"B\"", true)]
    [InlineData("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"", false)]
    [InlineData("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"bJ\"", true)]
    [InlineData("title pr", true)]
    [InlineData("nickName pr", true)]
    [InlineData("meta.lastModified gt \"2011-05-13T04:42:34Z\"", false)]
    [InlineData("meta.lastModified ge \"2011-05-13T04:42:34Z\"", true)]
    [InlineData("meta.lastModified lt \"2011-05-13T04:42:34Z\"", false)]
    [InlineData("meta.lastModified le \"2011-05-13T04:42:34Z\"", true)]
    [InlineData("title pr and userType eq \"Employee\"", true)]
    [InlineData("title pr or userType eq \"Intern\"", true)]
    [InlineData("schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"", false)]
    [InlineData("schemas eq \"urn:ietf:params:scim:schemas:core:2.0:User\"", true)]
    [InlineData("userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")", true)]
    [InlineData("userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")", false)]
    [InlineData("userType eq \"Employee\" and (emails.type eq \"work\")", true)]
    [InlineData("userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]", true)]
    [InlineData("emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]", true)]
    [InlineData("emails[type eq \"home\" and value co \"@example.com\"]", false)]
    public void Rfc7644Examples_EvaluateAsSpecified(string filter, bool expected) => Assert.Equal(expected, Matches(filter, s_babs));

    [Theory]
    [InlineData("USERNAME EQ \"BJENSEN@EXAMPLE.COM\"", true)]   // names, operators and the (not caseExact) value
    [InlineData("displayName eq \"BABS JENSEN\"", true)]         // displayName is not caseExact
    [InlineData("meta.version eq \"w/\\\"a330bc54f0671c9\\\"\"", false)] // meta.version is caseExact
    [InlineData("meta.version eq \"W/\\\"a330bc54f0671c9\\\"\"", true)]
    [InlineData("id eq \"2819C223-7F76-453A-919D-413861904646\"", false)] // id is caseExact
    [InlineData("userName Eq \"bjensen@example.com\" AND title PR", true)]
    [InlineData("not (title pr)", false)]
    [InlineData("NOT(title pr)", false)]
    [InlineData("((userName eq \"x\") or ((title pr)))", true)]
    public void CaseRules_FollowRfc7643(string filter, bool expected) => Assert.Equal(expected, Matches(filter, s_babs));

    [Theory]
    [InlineData("title pr or userName eq \"x\" and userType eq \"nope\"", true)]    // and binds tighter than or
    [InlineData("(title pr or userName eq \"x\") and userType eq \"nope\"", false)]
    [InlineData("userName eq \"x\" and title pr or userType eq \"Employee\"", true)]
    public void AndBindsTighterThanOr(string filter, bool expected) => Assert.Equal(expected, Matches(filter, s_babs));

    [Theory]
    [InlineData("active eq true", true)]
    [InlineData("active eq \"True\"", true)]
    [InlineData("active ne false", true)]
    [InlineData("externalId eq 701984", true)]                                // bare number for a string attribute
    [InlineData("userName sw b", true)]
    [InlineData("meta.created gt 2010-01-23T04:56:21Z", true)]
    [InlineData("meta.created gt 2010-01-22T21:56:22-07:00", false)]           // the same instant, in another offset
    [InlineData("meta.created ge 2010-01-22T21:56:22-07:00", true)]
    [InlineData("meta.created lt \"2010-01-23T04:56:22.5Z\"", true)]
    [InlineData("emails.primary eq true and emails.type eq \"work\"", true)]
    [InlineData("emails[primary eq true and type eq \"home\"]", false)]        // same element, both conditions
    [InlineData("emails.primary eq true and emails.type eq \"home\"", true)]   // any element each
    [InlineData("name pr", true)]
    [InlineData("x509Certificates pr", true)]
    [InlineData("entitlements pr", false)]
    [InlineData("entitlements eq null", true)]
    [InlineData("title ne null", true)]
    [InlineData("title ne \"Boss\"", true)]
    [InlineData("entitlements.value ne \"x\"", true)]                          // no value is "not equal"
    [InlineData("addresses[type eq \"work\" and postalCode sw \"91\"]", true)]
    [InlineData("addresses[postalCode sw \"91\"].type eq \"work\"", true)]        // Entra ID's matching form
    [InlineData("emails[type eq \"work\"].value eq \"bjensen@example.com\"", true)]
    [InlineData("emails[type eq \"home\"].value eq \"bjensen@example.com\"", false)] // same element, both conditions
    [InlineData("emails[type eq \"home\"].value pr and title pr", true)]
    public void TypedComparisons(string filter, bool expected) => Assert.Equal(expected, Matches(filter, s_babs));

    [Theory]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\"", true)]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\"", true)]
    [InlineData("employeeNumber eq 701984", true)]
    [InlineData("schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"", true)]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr", true)]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization eq \"nope\"", false)]
    public void ExtensionAttributes_AreFilterable(string filter, bool expected) => Assert.Equal(expected, Matches(filter, s_enterprise));

    [Theory]
    [InlineData("", "end of the filter")]
    [InlineData("userName", "operator")]
    [InlineData("userName eq", "value")]
    [InlineData("userName xx \"a\"", "unknown operator 'xx'")]
    [InlineData("userName eq \"a\" and", "end of the filter")]
    [InlineData("userName eq \"a\" nor title pr", "'and', 'or'")]
    [InlineData("(userName eq \"a\"", "')'")]
    [InlineData("userName eq \"a\")", "no '('")]
    [InlineData("noSuchAttribute eq \"a\"", "unknown attribute 'noSuchAttribute'")]
    [InlineData("name.noSuch eq \"a\"", "unknown attribute")]
    [InlineData("emails[noSuch eq \"a\"]", "unknown attribute")]
    [InlineData("emails[type eq \"a\"", "']'")]
    [InlineData("emails[type eq \"a\" and ims[type eq \"b\"]]", "another value filter")]
    [InlineData("userName eq \"unterminated", "never closed")]
    [InlineData("userName eq \"bad \\q escape\"", "invalid escape")]
    [InlineData("active gt true", "not defined for boolean")]
    [InlineData("active co true", "not defined for boolean")]
    [InlineData("active eq maybe", "boolean")]
    [InlineData("x509Certificates.value gt \"AA\"", "not defined for binary")]
    [InlineData("meta.created gt \"yesterday\"", "dateTime")]
    [InlineData("meta.created co \"2010\"", "not defined for dateTime")]
    [InlineData("name eq \"x\"", "complex attribute")]
    [InlineData("userName gt null", "null")]
    [InlineData("not title pr", "'(' after 'not'")]
    [InlineData("userName eq\"a\"", "space")]
    [InlineData("title[value eq \"a\"]", "not complex")]
    [InlineData("emails[type eq \"a\"].nope eq \"b\"", "no such sub-attribute")]
    [InlineData("emails[type eq \"a\"].value", "operator")]
    public void BadFilters_AreInvalidFilter_WithPositionAndExpectation(string filter, string detail)
    {
        var error = Invalid(filter);

        Assert.Contains("position", error.Detail, StringComparison.Ordinal);
        Assert.Contains(detail, error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void HostileDepth_IsRejected_NotAStackOverflow()
    {
        string deep = new string('(', 100_000) + "title pr" + new string(')', 100_000);
        var options = new FilterParserOptions { MaxLength = 1_000_000 };

        Assert.False(FilterParser.TryParse(deep, ScimResourceTypes.User, out _, out var error, options));
        Assert.Contains("nesting deeper than 32", error!.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void HostileNotChain_IsRejected()
    {
        var builder = new StringBuilder();
        for (int i = 0; i < 10_000; i++)
        {
            builder.Append("not (");
        }

        Assert.False(FilterParser.TryParse(builder.ToString(), ScimResourceTypes.User, out _, out var error, new FilterParserOptions { MaxLength = 1_000_000 }));
        Assert.Equal(ScimErrorType.InvalidFilter, error!.Type);
    }

    [Fact]
    public void OverlongFilter_IsRejectedBeforeParsing()
    {
        string filter = "userName eq \"" + new string('a', 10_000) + "\"";

        Assert.Contains("longer than", Invalid(filter).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void LongChainOfOr_WithinLimits_Parses()
    {
        var builder = new StringBuilder("userName eq \"u0\"");
        for (int i = 1; i < 200; i++)
        {
            builder.Append(" or userName eq \"u").Append(i).Append('"');
        }

        Assert.True(Matches(builder.Append(" or title pr").ToString(), s_babs));
    }

    [Fact]
    public void InvalidUtf8InABareValue_IsInvalidFilter()
    {
        byte[] filter = [.. "userName eq "u8, 0xC3, 0x28];

        Assert.False(FilterParser.TryParse(filter, ScimResourceTypes.User, out _, out var error));
        Assert.Equal(ScimErrorType.InvalidFilter, error!.Type);
    }

    [Fact]
    public void Evaluation_AllocatesNothing()
    {
        var filters = new[]
        {
            CompiledFilter<User>.Compile(Parse("userName eq \"bjensen@example.com\""), UserAccessor.Instance),
            CompiledFilter<User>.Compile(Parse("emails[type eq \"work\" and value co \"@example.com\"]"), UserAccessor.Instance),
            CompiledFilter<User>.Compile(Parse("(userType eq \"Employee\" or title pr) and not (active eq false) and meta.lastModified gt \"2010-01-01T00:00:00Z\""), UserAccessor.Instance),
        };
        for (int i = 0; i < 1000; i++)
        {
            foreach (var filter in filters)
            {
                filter.Matches(s_babs);
            }
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            foreach (var filter in filters)
            {
                Assert.True(filter.Matches(s_babs));
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData("userName+eq+%22bjensen%40example.com%22", "userName eq \"bjensen@example.com\"")]
    [InlineData("externalId%20eq%20%22a%2Bb%22", "externalId eq \"a+b\"")]
    [InlineData("displayName+eq+%22J%C3%BCrgen%22", "displayName eq \"Jürgen\"")]
    [InlineData("a%2", "a%2")]
    [InlineData("100%", "100%")]
    public void QueryStrings_AreFormDecoded(string encoded, string expected) =>
        Assert.Equal(expected, Encoding.UTF8.GetString(ScimQueryString.FormDecode(encoded)));
}
