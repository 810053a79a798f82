using System.Buffers;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests.Query;

/// <summary>
/// The scan prefilter may only reject records the filter does not match: random filters over users
/// whose values hold what breaks byte matching (case variants, characters that fold to ASCII
/// letters ignoring case, escapes, quotes, non-ASCII), each user's stored bytes tested against the
/// compiled filter on the user read back from those bytes (what a scan decides without it).
/// </summary>
public sealed class ScanPrefilterTests
{
    private const int Seed = 7643;

    private static readonly string[] s_words =
    [
        "smith", "SMITH", "Smith", "ſmith", "ıvan", "IVAN", "ivan", "\u212Aarl", "karl", "KARL", "émile", "Émile",
        "say \"hi\"", "back\\slash", "line\nbreak", "tab\there", "a", "x", "mid-dle", "x@example.com", "X@EXAMPLE.COM", "",
    ];

    private static readonly string[] s_paths =
    [
        "displayName", "title", "name.familyName", "name.givenName", "emails.value", "emails.type", "nickName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ];

    [Fact]
    public void NeverRejectsARecordTheFilterMatches_On5000RandomFilters()
    {
        var random = new Random(Seed);
        var everything = ScimProjection.Everything(ScimResourceTypes.User);
        var records = new List<(byte[] Bytes, User Stored)>();
        var buffer = new ArrayBufferWriter<byte>();
        for (int i = 0; i < 60; i++)
        {
            buffer.ResetWrittenCount();
            UserSerializer.Instance.Write(buffer, RandomUser(random, i), everything);
            byte[] bytes = buffer.WrittenSpan.ToArray();
            Assert.True(UserSerializer.Instance.TryRead(new ReadOnlySequence<byte>(bytes), ScimReadOptions.Trusted, out var stored, out _));
            records.Add((bytes, stored!));
        }

        int withPrefilter = 0;
        int matched = 0;
        int rejected = 0;
        for (int i = 0; i < 5_000; i++)
        {
            string text = RandomFilter(random, depth: 0);
            Assert.True(FilterParser.TryParse(text, ScimResourceTypes.User, out var filter, out var error), $"'{text}': {error}");
            var prefilter = ScanPrefilter.For(filter, _ => true);
            if (prefilter is null)
            {
                continue;
            }

            withPrefilter++;
            var compiled = CompiledFilter<User>.Compile(filter, UserAccessor.Instance);
            foreach (var (bytes, stored) in records)
            {
                bool matches = compiled.Matches(stored);
                bool mayMatch = prefilter.MayMatch(bytes);
                Assert.True(mayMatch || !matches, $"'{text}' matches a record the prefilter rejected:\n{System.Text.Encoding.UTF8.GetString(bytes)}");
                matched += matches ? 1 : 0;
                rejected += mayMatch ? 0 : 1;
            }
        }

        // Meaningful only if many filters get a prefilter, both outcomes occur, and it rejects often.
        Assert.True(withPrefilter > 2_000, $"only {withPrefilter} filters had a prefilter");
        Assert.True(matched > withPrefilter, $"only {matched} matches");
        Assert.True(rejected > withPrefilter * records.Count / 10, $"only {rejected} rejections of {withPrefilter * records.Count}");
    }

    [Theory]
    [InlineData("title eq \"Manager\"", "{\"title\":\"manager\"}", true)]
    [InlineData("title eq \"Manager\"", "{\"title\":\"Manager of sales\"}", false)]
    [InlineData("title sw \"Man\"", "{\"title\":\"Manager\"}", true)]
    [InlineData("title sw \"ager\"", "{\"title\":\"Manager\"}", false)]
    [InlineData("title ew \"ager\"", "{\"title\":\"Manager\"}", true)]
    [InlineData("title co \"nag\"", "{\"title\":\"MANAGER\"}", true)]
    [InlineData("title co \"zz\"", "{\"title\":\"MANAGER\"}", false)]
    [InlineData("title co \"zz\"", "{\"title\":\"MAN\\u0041GER\"}", true)]
    [InlineData("title co \"karl\"", "{\"title\":\"\u212Aarl\"}", true)]
    [InlineData("title co \"tom\"", "{\"title\":\"\u00E9tom\"}", true)]
    [InlineData("title co \"zz\"", "{\"title\":\"\u00E9tom\"}", false)]
    [InlineData("externalId eq \"Ab\"", "{\"externalId\":\"ab\"}", false)]
    [InlineData("externalId eq \"ab\"", "{\"externalId\":\"ab\"}", true)]
    [InlineData("title eq \"x\" or displayName eq \"y\"", "{\"displayName\":\"y\"}", true)]
    [InlineData("title eq \"x\" and displayName eq \"long\"", "{\"title\":\"x\"}", false)]
    public void DecidesOnTheBytes(string filterText, string json, bool mayMatch)
    {
        Assert.True(FilterParser.TryParse(filterText, ScimResourceTypes.User, out var filter, out _));
        var prefilter = ScanPrefilter.For(filter, _ => true);
        Assert.NotNull(prefilter);
        Assert.Equal(mayMatch, prefilter.MayMatch(System.Text.Encoding.UTF8.GetBytes(json)));
    }

    [Theory]
    [InlineData("title ne \"x\"")]
    [InlineData("not (title eq \"x\")")]
    [InlineData("title pr")]
    [InlineData("title gt \"x\"")]
    [InlineData("title eq \"x\" or active eq true")]
    [InlineData("meta.resourceType eq \"User\"")]
    [InlineData("title eq \"\u00E9\"")]
    [InlineData("title eq \"\"")]
    public void RequiresNothing_WhenTheFilterNeedsNoLiteralInTheBytes(string filterText)
    {
        Assert.True(FilterParser.TryParse(filterText, ScimResourceTypes.User, out var filter, out _));
        Assert.Null(ScanPrefilter.For(filter, _ => true));
    }

    [Fact]
    public void AttributesHeldElsewhere_AreNotLookedFor()
    {
        Assert.True(FilterParser.TryParse("title eq \"x\"", ScimResourceTypes.User, out var filter, out _));
        Assert.Null(ScanPrefilter.For(filter, attribute => attribute.Name != "title"));
    }

    private static string RandomFilter(Random random, int depth)
    {
        int choice = depth > 2 ? 0 : random.Next(8);
        switch (choice)
        {
            case 5:
                return "(" + RandomFilter(random, depth + 1) + (random.Next(2) == 0 ? " and " : " or ") + RandomFilter(random, depth + 1) + ")";
            case 6:
                return "not (" + RandomFilter(random, depth + 1) + ")";
            case 7:
                return "emails[" + Comparison(random, random.Next(2) == 0 ? "value" : "type") + "]";
            default:
                return Comparison(random, s_paths[random.Next(s_paths.Length)]);
        }
    }

    private static string Comparison(Random random, string path)
    {
        string[] ops = ["eq", "co", "sw", "ew", "ne"];
        string word = s_words[random.Next(s_words.Length)];

        // Often a piece of a word, so sw/ew/co find something.
        if (word.Length > 2 && random.Next(2) == 0)
        {
            int start = random.Next(word.Length - 1);
            word = word.Substring(start, 1 + random.Next(word.Length - start - 1));
        }

        if (random.Next(3) == 0)
        {
            word = random.Next(2) == 0 ? word.ToUpperInvariant() : word.ToLowerInvariant();
        }

        string escaped = word.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n").Replace("\t", "\\t");
        return path + " " + ops[random.Next(ops.Length)] + " \"" + escaped + "\"";
    }

    private static User RandomUser(Random random, int i)
    {
        string Word() => s_words[random.Next(s_words.Length)] + (random.Next(3) == 0 ? " " + s_words[random.Next(s_words.Length)] : "");
        string? Maybe() => random.Next(3) == 0 ? null : Word();
        var user = new User
        {
            Id = "id-" + i,
            UserName = "user" + i,
            DisplayName = Maybe(),
            Title = Maybe(),
            NickName = Maybe(),
            Name = random.Next(4) == 0 ? null : new User.NameValue { FamilyName = Maybe(), GivenName = Maybe() },
            Emails = random.Next(4) == 0 ? null : [.. Enumerable.Range(0, 1 + random.Next(2)).Select(_ => new User.EmailsValue { Value = Maybe(), Type = Maybe() })],
            Meta = new ScimMeta { Created = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), LastModified = new DateTimeOffset(2020, 1, 2, 0, 0, 0, TimeSpan.Zero) },
        };
        if (random.Next(2) == 0)
        {
            user.EnterpriseUser = new EnterpriseUser { EmployeeNumber = Maybe() };
        }

        return user;
    }
}
