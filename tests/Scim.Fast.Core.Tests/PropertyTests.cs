using System.Buffers;
using System.Text;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests;

/// <summary>Fixed-seed property tests: random resources round-trip, random garbage never throws.</summary>
public sealed class PropertyTests
{
    private const int Seed = 7643;

    [Fact]
    public void RandomUsers_WriteReadWrite_AreIdentical()
    {
        var random = new Random(Seed);
        var everything = ScimProjection.Everything(ScimResourceTypes.User);
        for (int i = 0; i < 2_000; i++)
        {
            var user = RandomUser(random);
            string first = TestJson.WriteUser(user, everything);

            var bytes = Encoding.UTF8.GetBytes(first);
            var input = i % 3 == 0 ? TestJson.Segmented(bytes, 1 + random.Next(16)) : new ReadOnlySequence<byte>(bytes);
            Assert.True(UserSerializer.Instance.TryRead(input, ScimReadOptions.Trusted, out var read, out var error), $"case {i}: {error} in {first}");

            Assert.Equal(first, TestJson.WriteUser(read!, everything));
        }
    }

    [Fact]
    public void RandomGroups_WriteReadWrite_AreIdentical()
    {
        var random = new Random(Seed);
        var everything = ScimProjection.Everything(ScimResourceTypes.Group);
        for (int i = 0; i < 1_000; i++)
        {
            var group = new Group
            {
                Id = RandomText(random),
                DisplayName = RandomText(random),
                ExternalId = Maybe(random, RandomText),
                Members = random.Next(3) == 0 ? null : [.. Enumerable.Range(0, 1 + random.Next(20)).Select(_ => new Group.MembersValue { Value = RandomText(random), Type = Maybe(random, r => r.Next(2) == 0 ? "User" : "Group") })],
            };
            string first = TestJson.WriteGroup(group, everything);

            Assert.True(GroupSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(first), ScimReadOptions.Trusted, out var read, out var error), $"case {i}: {error}");
            Assert.Equal(first, TestJson.WriteGroup(read!, everything));
        }
    }

    [Fact]
    public void TruncatedInput_AtEveryByte_GivesAnErrorNotAnException()
    {
        byte[] json = Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.3-enterprise-user.json"));
        for (int length = 0; length < json.Length - 1; length++)
        {
            bool ok = UserSerializer.Instance.TryRead(json.AsMemory(0, length), ScimReadOptions.Request, out _, out var error);

            Assert.False(ok, $"a body cut at {length} bytes was accepted");
            Assert.Equal(400, error!.Status);
        }
    }

    [Fact]
    public void RandomMutations_NeverThrow()
    {
        var random = new Random(Seed);
        byte[] original = Encoding.UTF8.GetBytes(TestJson.Fixture("rfc7643-8.2-full-user.json"));
        byte[] alphabet = "{}[]\":,\\ 0123456789.eE-+tfnul\u00ff\u0080\u00c3"u8.ToArray();
        for (int i = 0; i < 20_000; i++)
        {
            byte[] mutated = (byte[])original.Clone();
            int edits = 1 + random.Next(4);
            for (int e = 0; e < edits; e++)
            {
                mutated[random.Next(mutated.Length)] = random.Next(4) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
            }

            bool ok = UserSerializer.Instance.TryRead(mutated, ScimReadOptions.Request, out var user, out var error);

            Assert.True(ok ? user is not null : error is { Status: 400 } && error.Type is ScimErrorType.InvalidSyntax or ScimErrorType.InvalidValue);
        }
    }

    [Fact]
    public void RandomWrongTypes_ForEveryAttribute_GiveInvalidValueNamingIt()
    {
        var random = new Random(Seed);
        string[] wrongValues = ["1", "true", "\"text\"", "{}", "[1]", "[{}]", "{\"value\":{}}", "[[]]", "1.5"];
        int rejected = 0;
        foreach (var attribute in ScimResourceTypes.User.Schema.Attributes)
        {
            if (attribute.Mutability == Schema.ScimMutability.ReadOnly)
            {
                continue;
            }

            foreach (var value in wrongValues.OrderBy(_ => random.Next()).Take(4))
            {
                string json = $"{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"{attribute.Name}\":{value}}}";

                bool ok = UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), ScimReadOptions.Request, out _, out var error);

                if (!ok)
                {
                    rejected++;
                    Assert.Equal(ScimErrorType.InvalidValue, error!.Type);
                    Assert.Contains(attribute.Name, error.Detail, StringComparison.Ordinal);
                }
            }
        }

        // Most random pairings are type errors; a reader that accepted everything would fail here.
        Assert.True(rejected > 40, $"only {rejected} wrong-typed values were rejected");
    }

    private static User RandomUser(Random random)
    {
        var user = new User
        {
            Id = Guid.NewGuid().ToString(),
            UserName = RandomText(random),
            ExternalId = Maybe(random, RandomText),
            DisplayName = Maybe(random, RandomText),
            Active = random.Next(3) switch { 0 => null, 1 => true, _ => false },
            Password = Maybe(random, RandomText),
            Name = random.Next(2) == 0 ? null : new User.NameValue { GivenName = Maybe(random, RandomText), FamilyName = Maybe(random, RandomText), Formatted = Maybe(random, RandomText) },
            Emails = random.Next(3) == 0 ? null : [.. Enumerable.Range(0, 1 + random.Next(4)).Select(_ => new User.EmailsValue { Value = RandomText(random), Type = Maybe(random, r => "work"), Primary = random.Next(2) == 0 ? null : random.Next(2) == 0 })],
            X509Certificates = random.Next(4) != 0 ? null : [new User.X509CertificatesValue { Value = Convert.ToBase64String(Guid.NewGuid().ToByteArray()) }],
            Meta = random.Next(2) == 0 ? null : new Schema.ScimMeta
            {
                ResourceType = "User",
                Created = new DateTimeOffset(2000 + random.Next(30), 1 + random.Next(12), 1 + random.Next(28), random.Next(24), random.Next(60), random.Next(60), TimeSpan.FromMinutes(15 * (random.Next(96) - 48))).AddTicks(random.Next(2) == 0 ? 0 : random.Next(10_000_000)),
                Version = "W/\"" + random.Next() + "\"",
            },
        };
        if (random.Next(2) == 0)
        {
            user.EnterpriseUser = new EnterpriseUser
            {
                EmployeeNumber = RandomText(random),
                Manager = random.Next(2) == 0 ? null : new EnterpriseUser.ManagerValue { Value = RandomText(random), DisplayName = Maybe(random, RandomText) },
            };
        }

        return user;
    }

    private static string? Maybe(Random random, Func<Random, string> make) => random.Next(3) == 0 ? null : make(random);

    // Text with the characters that stress a JSON writer: quotes, escapes, control characters, non-ASCII, surrogate pairs.
    private static string RandomText(Random random)
    {
        string[] pieces = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u0001", "é", "ü", "日", "😀", "@", "+", "<", "&", "\u2028"];
        var builder = new StringBuilder();
        int length = random.Next(40);
        for (int i = 0; i < length; i++)
        {
            builder.Append(pieces[random.Next(pieces.Length)]);
        }

        return builder.ToString();
    }
}
