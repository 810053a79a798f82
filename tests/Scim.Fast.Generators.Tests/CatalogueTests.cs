using Microsoft.CodeAnalysis;

using static Scim.Fast.Generators.Tests.GeneratorHarness;

namespace Scim.Fast.Generators.Tests;

/// <summary>
/// The index catalogue (schemas/indexes/*.json): adding an index is one JSON line; every mistake is
/// a SCIM014/SCIM015 error at the index's line, never an index silently missing.
/// </summary>
public sealed class CatalogueTests
{
    private const string Id = "    { \"name\": \"id\", \"attribute\": \"id\", \"kind\": \"ordered\", \"number\": 0, \"operators\": [\"gt\"], \"sortBy\": true }";

    private static string Catalogue(string type, params string[] indexes) =>
        "{\n  \"resourceType\": \"" + type + "\",\n  \"indexes\": [\n" + string.Join(",\n", indexes) + "\n  ]\n}";

    private static Diagnostic SingleDiagnostic(string json, string expectedId)
    {
        var (run, _) = Run([.. CoreFiles(), new InMemoryAdditionalText("/schemas/indexes/Bad.json", json)]);

        Assert.Null(run.Results[0].Exception);
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal(expectedId, diagnostic.Id);
        Assert.EndsWith("Bad.json", diagnostic.Location.GetLineSpan().Path, StringComparison.Ordinal);
        return diagnostic;
    }

    private static int Line(Diagnostic diagnostic) => diagnostic.Location.GetLineSpan().StartLinePosition.Line + 1;

    [Fact]
    public void AnIndexIsOneLine_OnACoreSubAttribute_AndAnExtensionAttribute()
    {
        var json = Catalogue("User", Id,
            "    { \"name\": \"familyName\", \"attribute\": \"name.familyName\", \"kind\": \"ordered\", \"number\": 3, \"operators\": [\"eq\", \"sw\"], \"sortBy\": true }",
            "    { \"name\": \"employeeNumber\", \"attribute\": \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber\", \"kind\": \"lookup\", \"number\": 129, \"operators\": [\"eq\"] }");
        var (run, compile) = Run([.. CoreFiles(), new InMemoryAdditionalText("/schemas/indexes/User.json", json)]);

        Assert.Empty(run.Diagnostics);
        Assert.Empty(compile);
        string source = run.GeneratedTrees.Single(t => t.FilePath.EndsWith("UserIndexes.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("public const byte FamilyName = 3;", source, StringComparison.Ordinal);
        Assert.Contains("public const byte EmployeeNumber = 129;", source, StringComparison.Ordinal);
        Assert.Contains("resource.EnterpriseUser?.EmployeeNumber", source, StringComparison.Ordinal);
        Assert.Contains("caseExact: false, ScimIndexOperators.Eq | ScimIndexOperators.Sw, sortBy: true", source, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownAttribute_IsScim014_AtTheIndexLine()
    {
        var diagnostic = SingleDiagnostic(Catalogue("User", Id, "    { \"name\": \"nick\", \"attribute\": \"name.nickname\", \"kind\": \"lookup\", \"number\": 130, \"operators\": [\"eq\"] }"), "SCIM014");

        Assert.Equal(5, Line(diagnostic));
        Assert.Contains("'name.nickname'", diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ \"name\": \"e\", \"attribute\": \"emails.value\", \"kind\": \"ordered\", \"number\": 3, \"operators\": [\"eq\"] }", "multi-valued")]
    [InlineData("{ \"name\": \"u\", \"attribute\": \"displayName\", \"kind\": \"ordered\", \"number\": 3, \"operators\": [\"gt\"] }", "case-insensitive ordered index")]
    [InlineData("{ \"name\": \"t\", \"attribute\": \"title\", \"kind\": \"lookup\", \"operators\": [\"eq\"] }", "needs a 'number'")]
    [InlineData("{ \"name\": \"t\", \"attribute\": \"title\", \"kind\": \"lookup\", \"number\": 5, \"operators\": [\"eq\"] }", "from 128 to 254")]
    [InlineData("{ \"name\": \"t\", \"attribute\": \"title\", \"kind\": \"lookup\", \"number\": 130, \"operators\": [\"sw\"] }", "answers only eq")]
    [InlineData("{ \"name\": \"a\", \"attribute\": \"active\", \"kind\": \"lookup\", \"number\": 130, \"operators\": [\"eq\"] }", "is a boolean")]
    [InlineData("{ \"name\": \"m\", \"attribute\": \"meta.lastModified\", \"kind\": \"ordered\", \"number\": 0, \"operators\": [\"gt\"] }", "name or number is used")]
    [InlineData("{ \"name\": \"u\", \"attribute\": \"userName\", \"kind\": \"ordered\", \"number\": 3, \"caseExact\": true, \"operators\": [\"gt\"] }", "cannot key it case-exactly")]
    [InlineData("{ \"name\": \"collect\", \"attribute\": \"title\", \"kind\": \"lookup\", \"number\": 130, \"operators\": [\"eq\"] }", "would clash")]
    [InlineData("{ \"name\": \"Id\", \"attribute\": \"title\", \"kind\": \"lookup\", \"number\": 130, \"operators\": [\"eq\"] }", "name or number is used")]
    public void InvalidDeclaration_IsScim015_SayingWhy(string index, string why)
    {
        var diagnostic = SingleDiagnostic(Catalogue("User", Id, "    " + index), "SCIM015");

        Assert.Contains(why, diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void ACatalogueDocumentWithoutIndexes_IsScim004_NotACrash()
    {
        SingleDiagnostic("{\n  \"schemas\": [\"urn:scim-fast:index-catalogue\"],\n  \"resourceType\": \"User\"\n}", "SCIM004");
    }

    [Fact]
    public void ACatalogueWithoutTheIdIndex_IsScim015()
    {
        var diagnostic = SingleDiagnostic(Catalogue("Group", "    { \"name\": \"x\", \"attribute\": \"externalId\", \"kind\": \"lookup\", \"operators\": [\"eq\"] }"), "SCIM015");

        Assert.Contains("ordered index on id, number 0", diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void ACatalogueForAnUnknownResourceType_IsScim015()
    {
        var diagnostic = SingleDiagnostic(Catalogue("Device", Id), "SCIM015");

        Assert.Contains("no resource type has this name", diagnostic.GetMessage(), StringComparison.Ordinal);
    }
}
