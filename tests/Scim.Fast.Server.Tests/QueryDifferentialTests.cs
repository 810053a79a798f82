using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Tests.Query;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// Fixed-seed differential test of the whole query path over HTTP: random filters, sorts and pages
/// against the real server (planner, every index kind: unique userName, lookup emails.value and
/// externalId, ordered id, userName and meta.lastModified ranges, scans), against the same filter
/// forced to a full scan, and against <see cref="ReferenceInterpreter"/> over the users' JSON with
/// a plain sort written from RFC 7644 §3.4.2.3; after PUT, PATCH and DELETE, and after a restart.
/// Results, order and totalResults must be identical, and every page must be the slice of the
/// whole result that its startIndex and count name.
/// </summary>
public class QueryDifferentialTests(UnthrottledServerFixture server) : QueryDifferentialBase(server), IClassFixture<UnthrottledServerFixture>;

/// <summary>
/// The same differential test with every scan read in storage order (the store's log read
/// sequentially, each candidate confirmed by id; ResourceEndpoint.StorageScan.cs): a scan counts
/// from the 11th resource, and no tenant is too small a part of the log. Its log holds the older
/// copies the changes leave behind, which the scan must neither count nor let crowd out current
/// resources.
/// </summary>
public class StorageScanDifferentialTests(StorageScanServerFixture server) : QueryDifferentialBase(server), IClassFixture<StorageScanServerFixture>;

/// <summary>A server whose scans read in storage order from the 11th resource on.</summary>
public sealed class StorageScanServerFixture : ScimServerFixture
{
    public const string AdminToken = "admin-token-0123456789abcdef";

    protected override IEnumerable<string> ExtraArguments =>
        ["--Scim:Limits:RequestsPerSecondPerToken=0", "--Scim:Limits:ScanFreeResources=10", "--Scim:Limits:StorageScanLogBytesPerResource=100000000",
            "--Scim:AdminTokens:0=" + AdminToken];
}

public abstract class QueryDifferentialBase(ScimServerFixture server)
{
    private const int Seed = 9865;

    // Filters compared in all (half before the changes, a quarter after, a quarter after the
    // restart): 2,400 by default to keep the suite short; SCIM_QUERY_DIFFERENTIAL_FILTERS=10000
    // for the long run (README, "Tests").
    private static readonly int s_filters = int.TryParse(Environment.GetEnvironmentVariable("SCIM_QUERY_DIFFERENTIAL_FILTERS"), out int n) && n >= 4 ? n : 2_400;

    private static readonly string[] s_words = ["alpha", "Alpha", "ALPHA", "beta", "gamma", "a", "al", "work", "home", "x@example.com", "X@EXAMPLE.COM", "émile", "Émile", "z", "ſam"];

    // userName is the unique ordered key; its words avoid U+017F, whose folded order differs from
    // .NET's ignore-case order (README, known gaps). Filters still meet U+017F in other attributes.
    private static readonly string[] s_userNames = ["alpha", "Alpha", "beta", "al", "émile", "z", "x@example.com"];

    private static readonly (string Path, string Type)[] s_paths =
    [
        ("userName", "string"), ("displayName", "string"), ("title", "string"), ("externalId", "string"), ("id", "string"),
        ("name.familyName", "string"), ("emails.value", "string"), ("emails.type", "string"), ("active", "boolean"),
        ("meta.lastModified", "dateTime"), ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "string"),
    ];

    private static readonly string?[] s_sorts = [null, null, null, "userName", "meta.lastModified", "id", "title", "name.familyName", "emails.value"];

    [Fact]
    public async Task Queries_AgreeWithTheReference_InResultsOrderTotalsAndPages_ThroughChangesAndARestart()
    {
        var random = new Random(Seed);
        var users = await CreateUsersAsync(random, 240);
        await CompareAsync(random, users, s_filters / 2);

        // PUT, PATCH and DELETE move every kind of index entry; then the same again after a
        // restart (indexes from the checkpoint's snapshot and the log).
        await ChangeUsersAsync(random, users);
        users = await ReadUsersAsync();
        await CompareAsync(random, users, s_filters / 4);
        await server.RestartAsync();
        Assert.Equal(users.Select(Id).Order(StringComparer.Ordinal), (await ReadUsersAsync()).Select(Id).Order(StringComparer.Ordinal));
        await CompareAsync(random, users, s_filters / 4);
    }

    private async Task CompareAsync(Random random, List<JsonObject> users, int filters)
    {
        var lastModified = users.Select(u => (string)u["meta"]!["lastModified"]!).Distinct().ToList();
        int compared = 0, nonEmpty = 0;
        for (int i = 0; i < filters; i++)
        {
            string text = RandomFilter(random, 0, users, lastModified);
            if (!FilterParser.TryParse(text, ScimResourceTypes.User, out var filter, out _))
            {
                continue;
            }

            string? sortBy = s_sorts[random.Next(s_sorts.Length)];
            bool descending = random.Next(3) == 0;
            var expected = users.Where(u => ReferenceInterpreter.Evaluate(filter, u, null)).ToList();
            string sort = "&attributes=id" + (sortBy is null ? "" : "&sortBy=" + sortBy) + (descending ? "&sortOrder=descending" : "");
            string query = "filter=" + Uri.EscapeDataString(text) + sort;
            var whole = await ListAsync(query + "&count=1000");
            Assert.True(expected.Count == whole.Total, $"#{i} {query}: totalResults {whole.Total}, reference {expected.Count}");
            if (sortBy is null)
            {
                // The order without sortBy is the server's (id or the range's index); the set is not.
                Assert.Equal(expected.Select(Id).Order(StringComparer.Ordinal), whole.Ids.Order(StringComparer.Ordinal));
            }
            else
            {
                expected.Sort((a, b) => Compare(a, b, sortBy, descending));
                Assert.True(expected.Select(Id).SequenceEqual(whole.Ids), $"#{i} {query}: order\n server    {string.Join(",", whole.Ids)}\n reference {string.Join(",", expected.Select(Id))}");
            }

            // The same filter forced to a full scan (an "or" no index answers) agrees too.
            var scanned = await ListAsync("filter=" + Uri.EscapeDataString($"({text}) or id eq \"no-such-id\"") + sort + "&count=1000");
            Assert.Equal(whole.Total, scanned.Total);
            Assert.Equal<IEnumerable<string>>(sortBy is null ? whole.Ids.Order(StringComparer.Ordinal) : whole.Ids, sortBy is null ? scanned.Ids.Order(StringComparer.Ordinal) : scanned.Ids);

            // A page is the slice of the whole its startIndex and count name.
            int start = 1 + random.Next(Math.Max(1, expected.Count + 2));
            int count = random.Next(0, 12);
            var page = await ListAsync(query + $"&startIndex={start}&count={count}");
            Assert.Equal(whole.Total, page.Total);
            Assert.Equal(whole.Ids.Skip(start - 1).Take(count), page.Ids);
            compared++;
            nonEmpty += expected.Count > 0 ? 1 : 0;
        }

        // Sorts without a filter (every user; the ordered index or, for the rest, a top-k),
        // whole and in pages, in both directions.
        foreach (string? sortBy in s_sorts)
        {
            if (sortBy is null)
            {
                continue;
            }

            foreach (bool descending in new[] { false, true })
            {
                var expected = users.ToList();
                expected.Sort((a, b) => Compare(a, b, sortBy, descending));
                string query = "attributes=id&sortBy=" + sortBy + (descending ? "&sortOrder=descending" : "");
                var whole = await ListAsync(query + "&count=1000");
                Assert.Equal(expected.Count, whole.Total);
                Assert.True(expected.Select(Id).SequenceEqual(whole.Ids), $"{query}: order\n server    {string.Join(",", whole.Ids)}\n reference {string.Join(",", expected.Select(Id))}");
                int start = 1 + random.Next(Math.Max(1, expected.Count + 2));
                int count = 1 + random.Next(12);
                var page = await ListAsync(query + $"&startIndex={start}&count={count}");
                Assert.Equal(expected.Count, page.Total);
                Assert.Equal(expected.Select(Id).Skip(start - 1).Take(count), page.Ids);
            }
        }

        // Meaningful only if most filters parse and many select something.
        Assert.True(compared > filters * 7 / 10, $"only {compared} of {filters} filters compared");
        Assert.True(nonEmpty > compared / 4, $"only {nonEmpty} of {compared} filters matched anything");
    }

    // Replaces, patches and deletes a few dozen users each.
    private async Task ChangeUsersAsync(Random random, List<JsonObject> users)
    {
        var shuffled = users.OrderBy(_ => random.Next()).ToList();
        for (int i = 0; i < 60; i++)
        {
            string path = "/scim/v2/Users/" + Id(shuffled[i]);
            switch (i % 3)
            {
                case 0:
                    var replacement = RandomUser(random, 500 + i);
                    (await server.Client.Send(HttpMethod.Put, path, replacement)).Expect(HttpStatusCode.OK);
                    break;
                case 1:
                    var patch = new JsonObject
                    {
                        ["schemas"] = new JsonArray(PatchSchema),
                        ["Operations"] = new JsonArray(
                            new JsonObject { ["op"] = "replace", ["path"] = "userName", ["value"] = s_userNames[random.Next(s_userNames.Length)] + (700 + i).ToString("D3", CultureInfo.InvariantCulture) },
                            new JsonObject { ["op"] = "replace", ["path"] = "emails", ["value"] = new JsonArray(new JsonObject { ["value"] = s_words[random.Next(s_words.Length)] + "@example.org", ["type"] = "work" }) },
                            new JsonObject { ["op"] = "remove", ["path"] = "externalId" }),
                    };
                    Assert.True((await server.Client.Send(HttpMethod.Patch, path, patch)).Status is HttpStatusCode.OK or HttpStatusCode.NoContent);
                    break;
                default:
                    (await server.Client.Delete(path)).Expect(HttpStatusCode.NoContent);
                    break;
            }
        }
    }

    private static string Id(JsonObject user) => (string)user["id"]!;

    private async Task<(int Total, List<string> Ids)> ListAsync(string query)
    {
        var list = (await server.Client.Get("/scim/v2/Users?" + query)).Expect(HttpStatusCode.OK).Body!;
        return ((int)list["totalResults"]!, [.. list["Resources"]!.AsArray().Select(r => (string)r!["id"]!)]);
    }

    // Users over /Bulk, some changed later (PATCH), so meta.lastModified has ties and spread.
    private async Task<List<JsonObject>> CreateUsersAsync(Random random, int count)
    {
        for (int batch = 0; batch < count / 60; batch++)
        {
            var operations = new JsonArray();
            for (int i = 0; i < 60; i++)
            {
                int n = batch * 60 + i;
                operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = "u" + n, ["data"] = RandomUser(random, n) });
            }

            var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
            var reply = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Bulk", bulk)).Expect(HttpStatusCode.OK);
            Assert.All(reply.Body!["Operations"]!.AsArray(), r => Assert.Equal("201", (string?)r!["status"]));
        }

        var all = await server.Client.Get("/scim/v2/Users?count=1000");
        var ids = all.Body!["Resources"]!.AsArray().Select(r => (string)r!["id"]!).ToList();
        foreach (var id in ids.Where((_, i) => i % 7 == 0))
        {
            var patch = new JsonObject
            {
                ["schemas"] = new JsonArray(PatchSchema),
                ["Operations"] = new JsonArray(new JsonObject { ["op"] = "replace", ["path"] = "title", ["value"] = s_words[random.Next(s_words.Length)] }),
            };
            await server.Client.Send(HttpMethod.Patch, "/scim/v2/Users/" + id, patch);
        }

        var users = await ReadUsersAsync();
        Assert.Equal(count, users.Count);
        return users;
    }

    private async Task<List<JsonObject>> ReadUsersAsync() =>
        [.. (await server.Client.Get("/scim/v2/Users?count=1000")).Expect(HttpStatusCode.OK).Body!["Resources"]!.AsArray().Select(r => r!.AsObject())];

    private static JsonObject RandomUser(Random random, int n)
    {
        string Word() => s_words[random.Next(s_words.Length)];
        var user = User(s_userNames[random.Next(s_userNames.Length)] + n.ToString("D3", CultureInfo.InvariantCulture), random.Next(3) == 0 ? null : Word());
        if (random.Next(3) > 0)
        {
            user["displayName"] = Word();
        }

        if (random.Next(3) > 0)
        {
            user["title"] = Word();
        }

        if (random.Next(3) > 0)
        {
            user["active"] = random.Next(2) == 0;
        }

        if (random.Next(3) > 0)
        {
            user["name"] = new JsonObject { ["familyName"] = Word() };
        }

        if (random.Next(4) > 0)
        {
            var emails = new JsonArray();
            var values = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < 1 + random.Next(2); i++)
            {
                string value = Word() + "@" + (random.Next(2) == 0 ? "example.com" : "EXAMPLE.com");
                if (values.Add(value))
                {
                    emails.Add(new JsonObject { ["value"] = value, ["type"] = Word(), ["primary"] = i == 0 && random.Next(2) == 0 });
                }
            }

            user["emails"] = emails;
        }

        if (random.Next(2) == 0)
        {
            user["schemas"]!.AsArray().Add("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
            user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = new JsonObject { ["employeeNumber"] = Word() };
        }

        return user;
    }

    private static string RandomFilter(Random random, int depth, List<JsonObject> users, List<string> instants)
    {
        switch (depth > 2 ? 0 : random.Next(9))
        {
            case 6:
                return RandomFilter(random, depth + 1, users, instants) + (random.Next(3) == 0 ? " or " : " and ") + RandomFilter(random, depth + 1, users, instants);
            case 7:
                return "not (" + RandomFilter(random, depth + 1, users, instants) + ")";
            case 8:
                return "emails[type eq \"" + s_words[random.Next(s_words.Length)] + "\" and value sw \"" + s_words[random.Next(s_words.Length)] + "\"]";
            default:
                var (path, type) = s_paths[random.Next(s_paths.Length)];
                string[] ops = ["eq", "eq", "ne", "co", "sw", "sw", "ew", "gt", "ge", "lt", "le", "pr"];
                string op = ops[random.Next(ops.Length)];
                if (op == "pr")
                {
                    return path + " pr";
                }

                // Values near the data: an existing id or userName (or a prefix), an existing instant.
                var someone = users[random.Next(users.Count)];
                string value = type switch
                {
                    "boolean" => random.Next(2) == 0 ? "true" : "false",
                    "dateTime" => instants[random.Next(instants.Count)],
                    _ when path == "id" => Prefix(random, Id(someone)),
                    _ when path == "userName" => random.Next(2) == 0 ? Prefix(random, (string)someone["userName"]!) : ((string)someone["userName"]!).ToUpperInvariant(),
                    _ => s_words[random.Next(s_words.Length)],
                };
                return type == "boolean" ? $"{path} {op} {value}" : $"{path} {op} \"{value}\"";
        }
    }

    private static string Prefix(Random random, string text) => random.Next(3) == 0 ? text : text[..random.Next(1, text.Length)];

    // RFC 7644 §3.4.2.3: by the attribute's value (a multi-valued one by its primary or else first
    // value), caseExact or not, dateTimes as instants; resources without a value last, in either
    // order; ties by id, in the sort's direction.
    internal static int Compare(JsonObject a, JsonObject b, string sortBy, bool descending)
    {
        var left = SortValue(a, sortBy);
        var right = SortValue(b, sortBy);
        if (left is null || right is null)
        {
            if (left is not null || right is not null)
            {
                return left is null ? 1 : -1;
            }
        }
        else
        {
            int order = sortBy switch
            {
                "meta.lastModified" => DateTimeOffset.Parse(left, CultureInfo.InvariantCulture).CompareTo(DateTimeOffset.Parse(right, CultureInfo.InvariantCulture)),
                "id" => string.CompareOrdinal(left, right),
                _ => string.Compare(left, right, StringComparison.OrdinalIgnoreCase),
            };
            if (order != 0)
            {
                return descending ? -order : order;
            }
        }

        int byId = string.CompareOrdinal(Id(a), Id(b));
        return descending ? -byId : byId;
    }

    private static string? SortValue(JsonObject user, string sortBy)
    {
        var parts = sortBy.Split('.');
        JsonNode? node = user[parts[0]];
        if (node is JsonArray array)
        {
            var primary = array.FirstOrDefault(e => e?["primary"]?.GetValue<bool>() == true && e[parts[1]] is not null);
            node = (primary ?? array.FirstOrDefault(e => e?[parts[1]] is not null))?[parts[1]];
        }
        else if (parts.Length > 1)
        {
            node = node?[parts[1]];
        }

        return node?.GetValue<string>();
    }
}
