using Microsoft.CodeAnalysis;

using static Scim.Fast.Generators.Tests.GeneratorHarness;

namespace Scim.Fast.Generators.Tests;

/// <summary>Every kind of schema mistake is a SCIM0xx error naming file and line, never a crash.</summary>
public sealed class DiagnosticTests
{
    private static Diagnostic SingleDiagnostic(string json, string expectedId, params InMemoryAdditionalText[] others)
    {
        var (run, _) = Run([new InMemoryAdditionalText("/schemas/Bad.json", json), .. others]);

        Assert.Null(run.Results[0].Exception);
        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal(expectedId, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.EndsWith("Bad.json", diagnostic.Location.GetLineSpan().Path, StringComparison.Ordinal);
        return diagnostic;
    }

    private static int Line(Diagnostic diagnostic) => diagnostic.Location.GetLineSpan().StartLinePosition.Line + 1;

    private const string Head = "{\n  \"id\": \"urn:example:Bad\",\n  \"name\": \"Bad\",\n  \"attributes\": [\n";

    [Fact]
    public void ValidSchemas_ProduceNoDiagnostics_AndCompile()
    {
        var (run, compile) = Run(CoreFiles());

        Assert.Empty(run.Diagnostics);
        Assert.Empty(compile);
        Assert.Contains(run.GeneratedTrees, t => t.FilePath.EndsWith("UserSerializer.g.cs", StringComparison.Ordinal));
    }

    [Fact]
    public void BadJson_IsScim001_AtTheLine()
    {
        var diagnostic = SingleDiagnostic(Head + "    { \"name\": \"a\", \"type\": \"string\" },\n    { \"name\": \"b\" \"type\": \"string\" }\n  ]\n}", "SCIM001");

        Assert.Equal(6, Line(diagnostic));
    }

    [Fact]
    public void TruncatedJson_IsScim001()
    {
        SingleDiagnostic(Head + "    { \"name\": \"a\", \"type\": \"str", "SCIM001");
    }

    [Fact]
    public void UnknownType_IsScim002_AtTheLine()
    {
        var diagnostic = SingleDiagnostic(Head + "    { \"name\": \"a\", \"type\": \"string\" },\n    { \"name\": \"b\", \"type\": \"text\" }\n  ]\n}", "SCIM002");

        Assert.Equal(6, Line(diagnostic));
        Assert.Contains("'text'", diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateAttribute_IsScim003_EvenInAnotherCase()
    {
        var diagnostic = SingleDiagnostic(Head + "    { \"name\": \"title\", \"type\": \"string\" },\n    { \"name\": \"Title\", \"type\": \"string\" }\n  ]\n}", "SCIM003");

        Assert.Equal(6, Line(diagnostic));
    }

    [Fact]
    public void DuplicateSubAttribute_IsScim003()
    {
        SingleDiagnostic(Head + "    { \"name\": \"c\", \"type\": \"complex\", \"subAttributes\": [\n      { \"name\": \"v\", \"type\": \"string\" },\n      { \"name\": \"v\", \"type\": \"string\" } ] }\n  ]\n}", "SCIM003");
    }

    [Fact]
    public void MissingName_IsScim004_AtTheLine()
    {
        var diagnostic = SingleDiagnostic(Head + "    { \"name\": \"a\", \"type\": \"string\" },\n    { \"type\": \"string\" }\n  ]\n}", "SCIM004");

        Assert.Equal(6, Line(diagnostic));
    }

    [Fact]
    public void MissingType_IsScim004()
    {
        SingleDiagnostic(Head + "    { \"name\": \"a\" }\n  ]\n}", "SCIM004");
    }

    [Fact]
    public void ComplexWithoutSubAttributes_IsScim005()
    {
        SingleDiagnostic(Head + "    { \"name\": \"c\", \"type\": \"complex\", \"subAttributes\": [] }\n  ]\n}", "SCIM005");
    }

    [Fact]
    public void NestedComplex_IsScim005()
    {
        SingleDiagnostic(Head + "    { \"name\": \"c\", \"type\": \"complex\", \"subAttributes\": [ { \"name\": \"d\", \"type\": \"complex\", \"subAttributes\": [ { \"name\": \"e\", \"type\": \"string\" } ] } ] }\n  ]\n}", "SCIM005");
    }

    [Theory]
    [InlineData("\"mutability\": \"sometimes\"")]
    [InlineData("\"returned\": \"maybe\"")]
    [InlineData("\"uniqueness\": \"very\"")]
    [InlineData("\"multiValued\": \"yes\"")]
    [InlineData("\"canonicalValues\": [1]")]
    public void BadCharacteristic_IsScim006(string member)
    {
        SingleDiagnostic(Head + "    { \"name\": \"a\", \"type\": \"string\", " + member + " }\n  ]\n}", "SCIM006");
    }

    [Fact]
    public void ResourceTypeWithUnknownSchema_IsScim007()
    {
        SingleDiagnostic("""[{ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "Thing", "name": "Thing", "endpoint": "/Things", "schema": "urn:example:Missing" }]""", "SCIM007");
    }

    [Fact]
    public void NeitherSchemaNorResourceType_IsScim008()
    {
        SingleDiagnostic("""{ "hello": "world" }""", "SCIM008");
    }

    [Fact]
    public void SchemaDefinedTwice_IsScim009()
    {
        var first = new InMemoryAdditionalText("/schemas/First.json", """{ "id": "urn:example:Bad", "name": "First", "attributes": [ { "name": "a", "type": "string" } ] }""");
        var bad = new InMemoryAdditionalText("/schemas/Bad.json", Head + "    { \"name\": \"a\", \"type\": \"string\" }\n  ]\n}");

        var (run, _) = Run(first, bad);

        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("SCIM009", diagnostic.Id);
        Assert.EndsWith("Bad.json", diagnostic.Location.GetLineSpan().Path, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1abc")]
    [InlineData("has space")]
    [InlineData("dot.ted")]
    public void InvalidAttributeName_IsScim010(string name)
    {
        SingleDiagnostic(Head + "    { \"name\": \"" + name + "\", \"type\": \"string\" }\n  ]\n}", "SCIM010");
    }

    [Fact]
    public void BadAttribute_DoesNotStopTheRestFromGenerating()
    {
        var bad = new InMemoryAdditionalText("/schemas/Bad.json", Head + "    { \"name\": \"ok\", \"type\": \"string\" },\n    { \"name\": \"broken\", \"type\": \"nope\" }\n  ]\n}");

        var (run, compile) = Run([bad, .. CoreFiles()]);

        Assert.Single(run.Diagnostics);
        Assert.Empty(compile);
        var badModel = Assert.Single(run.GeneratedTrees, t => t.FilePath.EndsWith("Bad.g.cs", StringComparison.Ordinal));
        Assert.Contains("public string? Ok", badModel.ToString(), StringComparison.Ordinal);
    }
}

/// <summary>Legal-looking schemas whose names would not compile as C# get a diagnostic, not broken code.</summary>
public sealed class NameClashDiagnosticTests
{
    private static GeneratorDriverRunResult RunWith(string json) =>
        Run([new InMemoryAdditionalText("/schemas/Bad.json", json), .. CoreFiles()]).Run;

    [Theory]
    [InlineData("id")]
    [InlineData("externalId")]
    [InlineData("META")]
    [InlineData("schemas")]
    public void CommonAttributeInASchema_IsScim011(string name)
    {
        var run = RunWith("{ \"id\": \"urn:example:Bad\", \"name\": \"Bad\", \"attributes\": [ { \"name\": \"" + name + "\", \"type\": \"string\" } ] }");

        Assert.Equal("SCIM011", Assert.Single(run.Diagnostics).Id);
    }

    [Theory]
    [InlineData("ScimResourceTypes")]
    [InlineData("scimError")]
    [InlineData("UserSerializer")]
    public void ReservedSchemaName_IsScim012(string name)
    {
        var run = RunWith("{ \"id\": \"urn:example:Bad\", \"name\": \"" + name + "\", \"attributes\": [ { \"name\": \"a\", \"type\": \"string\" } ] }");

        Assert.Equal("SCIM012", Assert.Single(run.Diagnostics).Id);
    }

    [Theory]
    [InlineData("https://example.com/ext")]
    [InlineData("urn:example:with space")]
    [InlineData("urn:example:\\\"quoted\\\"")]
    public void NonUrnSchemaId_IsScim013(string id)
    {
        var run = RunWith("{ \"id\": \"" + id + "\", \"name\": \"Bad\", \"attributes\": [ { \"name\": \"a\", \"type\": \"string\" } ] }");

        Assert.Equal("SCIM013", Assert.Single(run.Diagnostics).Id);
    }

    [Theory]
    [InlineData("x-y", "xY")]
    [InlineData("a_b", "aB")]
    [InlineData("ref", "$ref")]
    public void NamesThatMapToOneCSharpName_AreScim003(string first, string second)
    {
        var run = RunWith("{ \"id\": \"urn:example:Bad\", \"name\": \"Bad\", \"attributes\": [ { \"name\": \"" + first + "\", \"type\": \"string\" }, { \"name\": \"" + second + "\", \"type\": \"string\" } ] }");

        Assert.Equal("SCIM003", Assert.Single(run.Diagnostics).Id);
    }

    [Fact]
    public void AttributeNamedLikeAComplexAttributesClass_IsScim003()
    {
        // Complex "name" generates the nested class NameValue; an attribute "nameValue" would be a property of that name.
        var run = RunWith("""{ "id": "urn:example:Bad", "name": "Bad", "attributes": [ { "name": "name", "type": "complex", "subAttributes": [ { "name": "v", "type": "string" } ] }, { "name": "nameValue", "type": "string" } ] }""");

        Assert.Equal("SCIM003", Assert.Single(run.Diagnostics).Id);
    }

    [Fact]
    public void ExtensionListedTwice_IsScim009()
    {
        var run = Run(
            SchemaText("User.json"),
            SchemaText("EnterpriseUser.json"),
            new InMemoryAdditionalText("/schemas/Types.json", """[{ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User", "endpoint": "/Users", "schema": "urn:ietf:params:scim:schemas:core:2.0:User", "schemaExtensions": [ { "schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": false }, { "schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": false } ] }]""")).Run;

        Assert.Equal("SCIM009", Assert.Single(run.Diagnostics).Id);
    }

    [Fact]
    public void ExtensionNamedLikeACoreAttribute_IsScim012()
    {
        var run = Run(
            SchemaText("User.json"),
            new InMemoryAdditionalText("/schemas/Ext.json", """{ "id": "urn:example:ext:Name", "name": "Name", "attributes": [ { "name": "a", "type": "string" } ] }"""),
            new InMemoryAdditionalText("/schemas/Types.json", """[{ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User", "endpoint": "/Users", "schema": "urn:ietf:params:scim:schemas:core:2.0:User", "schemaExtensions": [ { "schema": "urn:example:ext:Name", "required": false } ] }]""")).Run;

        Assert.Equal("SCIM012", Assert.Single(run.Diagnostics).Id);
    }

    [Theory]
    [InlineData("Default")]
    [InlineData("Resource")]
    [InlineData("Core")]
    [InlineData("Writer")]
    public void ExtensionsWithAwkwardNames_Compile(string name)
    {
        var (run, compile) = Run(
            SchemaText("User.json"),
            new InMemoryAdditionalText("/schemas/Ext.json", "{ \"id\": \"urn:ietf:params:scim:schemas:core:2.0:User:ext\", \"name\": \"" + name + "\", \"attributes\": [ { \"name\": \"a\", \"type\": \"string\" } ] }"),
            new InMemoryAdditionalText("/schemas/Types.json", """[{ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User", "endpoint": "/Users", "schema": "urn:ietf:params:scim:schemas:core:2.0:User", "schemaExtensions": [ { "schema": "urn:ietf:params:scim:schemas:core:2.0:User:ext", "required": false } ] }]"""));

        Assert.Empty(run.Diagnostics);
        Assert.Empty(compile);
    }
}
