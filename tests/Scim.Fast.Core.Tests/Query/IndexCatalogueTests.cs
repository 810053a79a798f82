using System.Text;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;

namespace Scim.Fast.Core.Tests.Query;

/// <summary>
/// The generated catalogues (schemas/indexes/*.json) as the runtime reads them, and README's table
/// of indexes, which is rendered from them: a catalogue change without the README change fails here.
/// </summary>
public sealed class IndexCatalogueTests
{
    private const string Begin = "<!-- index catalogue: begin (rendered from schemas/indexes by IndexCatalogueTests) -->";
    private const string End = "<!-- index catalogue: end -->";

    [Fact]
    public void UserCatalogue_KeysAsTheSchemaCompares()
    {
        var catalogue = UserIndexes.Catalogue;

        Assert.Equal("userName", catalogue.Unique!.Attribute.Path);
        Assert.Equal(UserIndexes.Id, catalogue.ById.Number);
        Assert.Equal("externalId", catalogue.ExternalId!.Attribute.Path);
        Assert.Equal(UserIndexes.UserNameOrder, catalogue.SortIndexFor(ScimResourceTypes.User.ResolvePath("USERNAME")!)!.Number);
        Assert.Null(catalogue.SortIndexFor(ScimResourceTypes.User.ResolvePath("name.familyName")!));

        var emails = catalogue.Indexes.Single(i => i.Number == UserIndexes.Emails);
        Assert.Equal("ADA@EXAMPLE.COM", emails.KeyOf(ScimValue.From("Ada@Example.com")));   // caseExact false: folded
        Assert.Equal("Ext-1", catalogue.ExternalId.KeyOf(ScimValue.From("Ext-1")));           // caseExact true: as is
        Assert.Equal("Ada", catalogue.Unique.KeyOf(ScimValue.From("Ada")));                   // the store folds unique names

        // dateTime keys: fixed width UTC, so ordinal order is time order.
        var lastModified = catalogue.Ordered(UserIndexes.LastModified)!;
        var early = ScimValue.From(DateTimeOffset.Parse("2020-01-01T00:00:00+02:00", System.Globalization.CultureInfo.InvariantCulture));
        var late = ScimValue.From(DateTimeOffset.Parse("2020-01-01T00:00:00.5Z", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("2019-12-31T22:00:00.0000000Z", lastModified.KeyOf(early));
        Assert.True(string.CompareOrdinal(lastModified.KeyOf(early), lastModified.KeyOf(late)) < 0);
        Assert.True(lastModified.IsExactOrder);
        Assert.False(catalogue.Ordered(UserIndexes.UserNameOrder)!.IsExactOrder);
        Assert.False(lastModified.Answers(FilterOperator.Gt, ScimValue.From("not a date")));
    }

    [Fact]
    public void Collect_HandsOverEveryIndexedValue()
    {
        var user = new User { Id = "u1", UserName = "ada", ExternalId = "e1", Emails = [new() { Value = "a@x" }, new() { Value = null }, new() { Value = "b@x" }] };
        var sink = new Recorder { Seen = [] };

        UserIndexes.Collect(user, ref sink);

        Assert.Equal(["id=u1", "userName=ada", "userNameOrder=ada", "externalId=e1", "emails=a@x", "emails=b@x"], sink.Seen);
    }

    [Fact]
    public void Describe_ListsEachAttributeWithTheOperatorsItsIndexesAnswerTogether()
    {
        // userName: the unique index answers eq, its ordered twin sw (the scan errors' advice).
        Assert.Equal(
            "id (eq, sw, gt, ge, lt, le), userName (eq, sw), meta.lastModified (eq, gt, ge, lt, le), externalId (eq), emails.value (eq)",
            UserIndexes.Catalogue.Describe());
        Assert.Contains("members.value (eq)", GroupIndexes.Catalogue.Describe(), StringComparison.Ordinal);
        Assert.DoesNotContain("emails", GroupIndexes.Catalogue.Describe(), StringComparison.Ordinal);
    }

    private struct Recorder : IScimIndexSink
    {
        public List<string> Seen;

        public void Add(ScimIndex index, in ScimValue value) => Seen.Add(index.Name + "=" + value.String);
    }

    [Fact]
    public void ReadmeTable_IsRenderedFromTheCatalogues()
    {
        string readmePath = Path.Combine(RepoRoot(), "README.md");
        string readme = File.ReadAllText(readmePath).ReplaceLineEndings("\n");
        int begin = readme.IndexOf(Begin, StringComparison.Ordinal);
        int end = readme.IndexOf(End, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, "README.md has no index catalogue markers");
        string expected = Begin + "\n" + Render() + End;
        string actual = readme[begin..(end + End.Length)];
        if (Environment.GetEnvironmentVariable("SCIM_UPDATE_README") == "1" && actual != expected)
        {
            File.WriteAllText(readmePath, readme[..begin] + expected + readme[(end + End.Length)..]);
            Assert.Fail("README.md's index table rewritten from the catalogues; review the diff and run again without SCIM_UPDATE_README.");
        }

        Assert.Equal(expected, actual);
    }

    private static string Render()
    {
        var text = new StringBuilder();
        text.Append("| Type | Index | Attribute | Kind | Store number | Keys | Filters it answers | sortBy |\n");
        text.Append("|---|---|---|---|---|---|---|---|\n");
        foreach (var catalogue in new[] { UserIndexes.Catalogue, GroupIndexes.Catalogue })
        {
            foreach (var index in catalogue.Indexes)
            {
                string number = index.Number == ScimIndex.Unnumbered ? "own slot" : index.Number.ToString(System.Globalization.CultureInfo.InvariantCulture);
                string keys = index.Attribute.Type == Schema.ScimAttributeType.DateTime ? "instants (UTC)" : index.CaseExact ? "case-exact" : "case-insensitive";
                var operators = Enum.GetValues<ScimIndexOperators>().Where(op => op != ScimIndexOperators.None && index.Operators.HasFlag(op)).Select(op => "`" + op.ToString().ToLowerInvariant() + "`");
                string exactness = index.Kind == ScimIndexKind.Ordered && index.IsExactOrder ? " (exact: total and page from the index)" : "";
                text.Append($"| {catalogue.ResourceType.Name} | {index.Name} | `{index.Attribute.Path}` | {index.Kind.ToString().ToLowerInvariant()} | {number} | {keys} | {string.Join(" ", operators)}{exactness} | {(index.SortBy ? "yes" : "")} |\n");
            }
        }

        return text.ToString();
    }

    private static string RepoRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Scim.Fast.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Scim.Fast.sln not found above " + AppContext.BaseDirectory);
    }
}
