using System.Buffers;
using System.Text;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests.Query;

/// <summary>
/// A top-k sort skips decoding a record only when its stored bytes say it sorts strictly after the
/// heap's last: every "after" must agree with <see cref="ScimSortComparer{TResource}"/> on the
/// decoded users, over values that break byte reading (case variants, characters that fold
/// differently, escapes, long values, empty, missing).
/// </summary>
public sealed class StoredSortKeyTests
{
    private const int Seed = 7644;

    private static readonly string[] s_words =
    [
        "smith", "SMITH", "Smith", "ſmith", "\u212Aarl", "karl", "KARL", "émile", "Émile", "zoë", "say \"hi\"", "back\\slash",
        "a", "b", "", "x@example.com", "X@EXAMPLE.COM", new string('m', 600), new string('m', 600) + "a",
    ];

    [Theory]
    [InlineData("name.familyName")]
    [InlineData("name.givenName")]
    [InlineData("displayName")] // also the enterprise manager's
    [InlineData("title")]
    [InlineData("nickName")]
    [InlineData("userName")]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber")]
    public void AfterOnTheBytes_OnlyWhenTheComparerSaysAfter(string sortBy)
    {
        var random = new Random(Seed);
        var everything = ScimProjection.Everything(ScimResourceTypes.User);
        var users = new List<(byte[] Bytes, User Stored)>();
        var buffer = new ArrayBufferWriter<byte>();
        for (int i = 0; i < 70; i++)
        {
            buffer.ResetWrittenCount();
            UserSerializer.Instance.Write(buffer, RandomUser(random, i), everything);
            byte[] bytes = buffer.WrittenSpan.ToArray();
            Assert.True(UserSerializer.Instance.TryRead(new ReadOnlySequence<byte>(bytes), ScimReadOptions.Trusted, out var stored, out _));
            users.Add((bytes, stored!));
        }

        foreach (string order in new[] { "ascending", "descending" })
        {
            Assert.True(ScimSortComparer<User>.TryCreate(UserAccessor.Instance, sortBy, order, out var comparer, out _));
            var key = StoredSortKey.For(ScimResourceTypes.User, comparer.Attribute, order == "descending", _ => true);
            Assert.NotNull(key);

            int after = 0;
            foreach (var (bytes, stored) in users)
            {
                foreach (var (_, last) in users)
                {
                    if (key.SortsAfter(bytes, stored.Id!, comparer.SortValue(last), last.Id!))
                    {
                        after++;
                        Assert.True(
                            comparer.Compare(stored, last) > 0,
                            $"{sortBy} {order}: '{comparer.SortValue(stored)}' was read as after '{comparer.SortValue(last)}' from:\n{Encoding.UTF8.GetString(bytes)}");
                    }
                }
            }

            // Meaningful only if the bytes decide often (up to half the pairs are "after"; fewer
            // where many users have no value, as for the extension's).
            Assert.True(after > users.Count * users.Count / 6, $"{sortBy} {order}: only {after} of {users.Count * users.Count} pairs decided on the bytes");
        }
    }

    [Theory]
    [InlineData("emails.value")] // multi-valued: the primary one sorts
    [InlineData("active")] // not a string
    [InlineData("meta.lastModified")]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName")] // an extension's, named as a core one
    public void NotReadOffTheBytes_WhenTheNameIsAmbiguousOrTheValueNotAString(string sortBy)
    {
        Assert.True(ScimSortComparer<User>.TryCreate(UserAccessor.Instance, sortBy, null, out var comparer, out _));
        Assert.Null(StoredSortKey.For(ScimResourceTypes.User, comparer.Attribute, descending: false, _ => true));
    }

    [Fact]
    public void NotReadOffTheBytes_WhenTheAttributeIsNotStoredAsSorted()
    {
        Assert.True(ScimSortComparer<User>.TryCreate(UserAccessor.Instance, "title", null, out var comparer, out _));
        Assert.Null(StoredSortKey.For(ScimResourceTypes.User, comparer.Attribute, descending: false, attribute => attribute.Name != "title"));
    }

    [Theory]
    [InlineData("{\"title\":\"b\"}", "a", true)]
    [InlineData("{\"title\":\"B\"}", "a", true)]
    [InlineData("{\"title\":\"A\"}", "a", false)] // a tie: the id decides (id-1 before id-2)
    [InlineData("{\"title\":\"a\"}", "b", false)]
    [InlineData("{\"title\" : \"b\"}", "a", true)]
    [InlineData("{\"nickName\":\"z\"}", "a", true)] // no title: missing sorts last
    [InlineData("{\"title\":null}", "a", true)]
    [InlineData("{\"nickName\":\"say \\\"title\\\":\\\"d\\\"\",\"title\":\"b\"}", "c", false)] // the words inside a string are not the property
    [InlineData("{\"a\\\"title\":\"a\",\"title\":\"b\"}", "a", true)] // nor a name after an escaped quote
    [InlineData("{\"nickName\":\"\\\\\",\"title\":\"b\"}", "a", true)] // an escaped backslash ends its string
    [InlineData("{\"title\":\"b\\u0041\"}", "a", false)] // an escape: decode
    [InlineData("{\"title\":\"émile\"}", "emile", true)]
    public void DecidesOnTheBytes(string json, string last, bool after)
    {
        Assert.True(ScimSortComparer<User>.TryCreate(UserAccessor.Instance, "title", null, out var comparer, out _));
        var key = StoredSortKey.For(ScimResourceTypes.User, comparer.Attribute, descending: false, _ => true)!;
        Assert.Equal(after, key.SortsAfter(Encoding.UTF8.GetBytes(json), "id-1", ScimValue.From(last), "id-2"));
    }

    [Theory]
    [InlineData("{\"title\":\"A\"}", "a", "id-3", false, true)]
    [InlineData("{\"title\":\"A\"}", "a", "id-1", false, false)]
    [InlineData("{\"title\":\"A\"}", "a", "id-1", true, true)] // descending: ties by id, reversed
    [InlineData("{\"nickName\":\"x\"}", null, "id-3", false, true)] // both missing: by id
    [InlineData("{\"nickName\":\"x\"}", null, "id-1", false, false)]
    [InlineData("{\"nickName\":\"x\"}", null, "id-1", true, true)]
    [InlineData("{\"title\":\"a\"}", null, "id-9", true, false)] // a value sorts before a missing one, either order
    public void BreaksTiesByIdInTheSortsDirection(string json, string? last, string id, bool descending, bool after)
    {
        Assert.True(ScimSortComparer<User>.TryCreate(UserAccessor.Instance, "title", null, out var comparer, out _));
        var key = StoredSortKey.For(ScimResourceTypes.User, comparer.Attribute, descending, _ => true)!;
        Assert.Equal(after, key.SortsAfter(Encoding.UTF8.GetBytes(json), id, ScimValue.From(last), "id-2"));
    }

    [Theory]
    [InlineData("{\"displayName\":\"b\",\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"manager\":{\"displayName\":\"z\"}}}", "a", true)]
    [InlineData("{\"displayName\":\"a\",\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"manager\":{\"displayName\":\"z\"}}}", "b", false)]
    [InlineData("{\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"manager\":{\"displayName\":\"z\"}}}", "a", false)] // the manager's: decode
    [InlineData("{\"schemas\":[\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],\"displayName\":\"b\"}", "a", true)] // a URN as a value is no object
    [InlineData("{\"nickName\":\"x\"}", "a", true)] // none: missing sorts last
    public void ReadsTheCoreAttribute_NotAnExtensionsOfTheSameName(string json, string last, bool after)
    {
        Assert.True(ScimSortComparer<User>.TryCreate(UserAccessor.Instance, "displayName", null, out var comparer, out _));
        var key = StoredSortKey.For(ScimResourceTypes.User, comparer.Attribute, descending: false, _ => true)!;
        Assert.Equal(after, key.SortsAfter(Encoding.UTF8.GetBytes(json), "id-1", ScimValue.From(last), "id-2"));
    }

    private static User RandomUser(Random random, int i)
    {
        string? Maybe() => random.Next(4) == 0 ? null : s_words[random.Next(s_words.Length)];
        var user = new User
        {
            Id = "id-" + i.ToString("D3", System.Globalization.CultureInfo.InvariantCulture),
            UserName = s_words[random.Next(s_words.Length)] + i,
            DisplayName = Maybe(),
            Title = Maybe(),
            NickName = Maybe(),
            Name = random.Next(5) == 0 ? null : new User.NameValue { FamilyName = Maybe(), GivenName = Maybe() },
        };
        if (random.Next(2) == 0)
        {
            user.EnterpriseUser = new EnterpriseUser { EmployeeNumber = Maybe(), Manager = new EnterpriseUser.ManagerValue { DisplayName = Maybe() } };
        }

        return user;
    }
}
