using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests.Query;

/// <summary>
/// Fixed-seed differential test: random filters over random users, the compiled evaluator (generated
/// accessors, typed nodes) against <see cref="ReferenceInterpreter"/>, a deliberately plain
/// interpreter that walks the users' JSON.
/// </summary>
public sealed class FilterDifferentialTests
{
    private const int Seed = 7644;

    private static readonly string[] s_words = ["alpha", "Alpha", "beta", "gamma", "a", "", "work", "home", "x@example.com", "Y@EXAMPLE.COM", "émile", "z"];

    // Attribute paths with their types, as the generator of random filters sees them.
    private static readonly (string Path, string Type)[] s_paths =
    [
        ("userName", "string"), ("displayName", "string"), ("title", "string"), ("externalId", "string"), ("id", "string"),
        ("name.familyName", "string"), ("name.givenName", "string"), ("emails.value", "string"), ("emails.type", "string"),
        ("emails.primary", "boolean"), ("active", "boolean"), ("meta.lastModified", "dateTime"), ("meta.created", "dateTime"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "string"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "string"),
        ("emails", "complex"), ("name", "complex"), ("x509Certificates.value", "binary"), ("schemas", "reference"),
    ];

    [Fact]
    public void CompiledEvaluator_AgreesWithReferenceInterpreter_On10000RandomFilters()
    {
        var random = new Random(Seed);
        var users = Enumerable.Range(0, 40).Select(i => RandomUser(random, i)).ToList();
        var everything = ScimProjection.Everything(ScimResourceTypes.User);
        var documents = users.Select(u => JsonNode.Parse(TestJson.WriteUser(u, everything))!.AsObject()).ToList();
        int matched = 0;
        int parsed = 0;
        for (int i = 0; i < 10_000; i++)
        {
            string text = RandomFilter(random, depth: 0, inValuePath: null);
            if (!FilterParser.TryParse(text, ScimResourceTypes.User, out var filter, out var error))
            {
                // Random filters may pair an operator with a type it is not defined for; those must fail as invalidFilter.
                Assert.Equal(Errors.ScimErrorType.InvalidFilter, error.Type);
                continue;
            }

            parsed++;
            var compiled = CompiledFilter<User>.Compile(filter, UserAccessor.Instance);
            for (int u = 0; u < users.Count; u++)
            {
                bool expected = ReferenceInterpreter.Evaluate(filter, documents[u], element: null);
                bool actual = compiled.Matches(users[u]);
                Assert.True(expected == actual, $"filter #{i} '{text}' on user {u}: reference {expected}, compiled {actual}\n{documents[u].ToJsonString()}");
                matched += actual ? 1 : 0;
            }
        }

        // The test only means something if most filters parse and both outcomes occur often.
        Assert.True(parsed > 7_000, $"only {parsed} of 10000 random filters parsed");
        Assert.InRange(matched, parsed * users.Count / 20, parsed * users.Count * 19 / 20);
    }

    private static string RandomFilter(Random random, int depth, (string Path, string Type)[]? inValuePath)
    {
        int choice = depth > 3 ? 0 : random.Next(10);
        switch (choice)
        {
            case 6:
                return RandomFilter(random, depth + 1, inValuePath) + (random.Next(2) == 0 ? " and " : " OR ") + RandomFilter(random, depth + 1, inValuePath);
            case 7:
                return "(" + RandomFilter(random, depth + 1, inValuePath) + ")";
            case 8:
                return "not (" + RandomFilter(random, depth + 1, inValuePath) + ")";
            case 9 when inValuePath is null:
                var sub = random.Next(2) == 0
                    ? new[] { ("value", "string"), ("type", "string"), ("primary", "boolean"), ("display", "string") }
                    : [("givenName", "string"), ("familyName", "string")];
                string parent = sub[0].Item1 == "value" ? "emails" : "name";
                return parent + "[" + RandomFilter(random, depth + 1, sub) + "]";
            default:
                var paths = inValuePath ?? s_paths;
                var (path, type) = paths[random.Next(paths.Length)];
                return Comparison(random, path, type);
        }
    }

    private static string Comparison(Random random, string path, string type)
    {
        string[] ops = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"];
        string op = ops[random.Next(ops.Length)];
        if (random.Next(8) == 0)
        {
            op = op.ToUpperInvariant();
        }

        if (op.Equals("pr", StringComparison.OrdinalIgnoreCase))
        {
            return path + " " + op;
        }

        string value = type switch
        {
            "boolean" => random.Next(3) switch { 0 => "true", 1 => "false", _ => "\"True\"" },
            "dateTime" => "\"" + new DateTimeOffset(2020, 1, 1 + random.Next(10), 0, 0, 0, TimeSpan.Zero).ToString("yyyy-MM-dd'T'HH:mm:ssK", CultureInfo.InvariantCulture) + "\"",
            _ when random.Next(12) == 0 => "null",
            "reference" => "\"" + (random.Next(2) == 0 ? "urn:ietf:params:scim:schemas:core:2.0:User" : "URN:ietf:params:scim:schemas:extension:enterprise:2.0:User") + "\"",
            _ => "\"" + s_words[random.Next(s_words.Length)] + "\"",
        };
        return path + " " + op + " " + value;
    }

    private static User RandomUser(Random random, int i)
    {
        string Word() => s_words[random.Next(s_words.Length)];
        string? Maybe() => random.Next(3) == 0 ? null : Word();
        var user = new User
        {
            Id = "id-" + i,
            UserName = Word() + i,
            DisplayName = Maybe(),
            Title = Maybe(),
            ExternalId = Maybe(),
            Active = random.Next(3) switch { 0 => null, 1 => true, _ => false },
            Name = random.Next(3) == 0 ? null : new User.NameValue { FamilyName = Maybe(), GivenName = Maybe() },
            Emails = random.Next(4) == 0 ? null : [.. Enumerable.Range(0, 1 + random.Next(3)).Select(_ => new User.EmailsValue { Value = Maybe(), Type = Maybe(), Primary = random.Next(3) == 0 ? null : random.Next(2) == 0, Display = Maybe() })],
            X509Certificates = random.Next(3) == 0 ? [new User.X509CertificatesValue { Value = "QUJD" }] : null,
            Meta = new ScimMeta
            {
                Created = new DateTimeOffset(2020, 1, 1 + random.Next(10), random.Next(24), 0, 0, TimeSpan.FromHours(random.Next(3) - 1)),
                LastModified = random.Next(5) == 0 ? null : new DateTimeOffset(2020, 1, 1 + random.Next(10), 0, 0, 0, TimeSpan.Zero),
            },
        };
        if (random.Next(2) == 0)
        {
            user.EnterpriseUser = new EnterpriseUser { EmployeeNumber = Maybe(), Manager = random.Next(2) == 0 ? null : new EnterpriseUser.ManagerValue { Value = Maybe() } };
        }

        return user;
    }
}

