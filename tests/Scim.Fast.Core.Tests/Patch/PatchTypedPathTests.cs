using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Patch;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests.Patch;

/// <summary>
/// The typed path (generated editor over the model) against the JSON engine, on the same random
/// requests: wherever the typed path decides a request it must give what the JSON engine gives —
/// the same resource, the same "changed", the same member delta — and it must decide most of what
/// identity providers send. Requests it declines are the JSON engine's by construction.
/// </summary>
public sealed class PatchTypedPathTests
{
    private const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    private static readonly string[] s_words = ["a", "B", "work", "Work", "x@example.com", ""];
    private static readonly string[] s_types = ["work", "home", "other", "mobile"];

    [Fact]
    public void TypedPath_AgreesWithJsonEngine_OnRandomUserRequests()
    {
        var random = new Random(7121);
        var typed = new ScimPatcher<User>(UserSerializer.Instance);
        var json = new ScimPatcher<User>(UserSerializer.Instance) { UseTypedPath = false };
        var fixtures = new[] { "rfc7643-8.1-minimal-user.json", "rfc7643-8.2-full-user.json", "rfc7643-8.3-enterprise-user.json" }
            .Select(name => ReadUser(TestJson.Fixture(name)))
            .ToArray();
        int decided = 0;
        int declined = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var user = random.Next(4) == 0 ? ReferencePatch.Model.Random(random).ToUser() : fixtures[random.Next(fixtures.Length)];
            var operations = new JsonArray();
            int count = 1 + random.Next(3);
            for (int o = 0; o < count; o++)
            {
                operations.Add(RandomUserOperation(random));
            }

            var request = Parse(operations);
            string before = TestJson.WriteUser(user, ScimProjection.Everything(ScimResourceTypes.User));
            bool jsonOk = json.TryApply(user, request, out var expected, out var jsonError);
            if (!typed.TryApplyTyped(user, request, out var actual))
            {
                declined++;
                continue;
            }

            decided++;
            string body = operations.ToJsonString();
            Assert.True(jsonOk, $"#{i}: typed path succeeded, JSON engine failed with {jsonError}: {body}\non {before}");
            string want = TestJson.WriteUser(expected!.Resource, ScimProjection.Everything(ScimResourceTypes.User));
            string got = TestJson.WriteUser(actual.Resource, ScimProjection.Everything(ScimResourceTypes.User));
            Assert.True(want == got, $"#{i}: {body}\nstart    {before}\nexpected {want}\nactual   {got}");
            Assert.True(expected.Changed == actual.Changed, $"#{i}: changed {actual.Changed}, JSON engine {expected.Changed}: {body}\non {before}");

            // The caller's resource is never touched.
            Assert.Equal(before, TestJson.WriteUser(user, ScimProjection.Everything(ScimResourceTypes.User)));
        }

        Assert.True(decided > 3_000 && declined > 3_000, $"typed path decided {decided}, declined {declined}: the mix is off");
    }

    [Fact]
    public void TypedPath_AgreesWithJsonEngine_OnRandomGroupRequests()
    {
        var random = new Random(913);
        var typed = new ScimPatcher<Group>(GroupSerializer.Instance, "members");
        var json = new ScimPatcher<Group>(GroupSerializer.Instance, "members") { UseTypedPath = false };
        int decided = 0;
        for (int i = 0; i < 3_000; i++)
        {
            var group = new Group { Id = "g", DisplayName = random.Next(2) == 0 ? "Sales" : "x", ExternalId = random.Next(2) == 0 ? "ext" : null };
            var operations = new JsonArray();
            int count = 1 + random.Next(4);
            for (int o = 0; o < count; o++)
            {
                operations.Add(RandomGroupOperation(random));
            }

            var request = Parse(operations);
            bool jsonOk = json.TryApply(group, request, out var expected, out var jsonError);
            if (!typed.TryApplyTyped(group, request, out var actual))
            {
                continue;
            }

            decided++;
            string body = operations.ToJsonString();
            Assert.True(jsonOk, $"#{i}: typed path succeeded, JSON engine failed with {jsonError}: {body}");
            Assert.Equal(TestJson.WriteGroup(expected!.Resource), TestJson.WriteGroup(actual.Resource));
            Assert.True(expected.Changed == actual.Changed, $"#{i}: changed {actual.Changed}, JSON engine {expected.Changed}: {body}");
            Assert.Equal(expected.Members.RemoveAll, actual.Members.RemoveAll);
            Assert.Equal(expected.Members.Removed, actual.Members.Removed);
            Assert.Equal(expected.Members.Added.Select(m => m.ToJsonString()), actual.Members.Added.Select(m => m.ToJsonString()));
        }

        Assert.True(decided > 900, $"typed path decided {decided} of 3,000");
    }

    [Fact]
    public void EntraAttributeUpdate_IsDecidedByTheTypedPath()
    {
        // What Entra ID sends when a user's attributes change (../shared/idp-traffic), and what the benchmark applies.
        var operations = JsonNode.Parse("""
            [{"op":"Replace","path":"emails[type eq \"work\"].value","value":"ada.byron@example.com"},
             {"op":"Replace","path":"name.familyName","value":"Byron"},
             {"op":"Add","path":"nickName","value":"Ada"},
             {"op":"Replace","path":"active","value":"False"},
             {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":"26118915-6090-4610-87e4-49d8ca9f808d"}]
            """)!.AsArray();
        var user = ReadUser(TestJson.Fixture("rfc7643-8.2-full-user.json"));
        var patcher = new ScimPatcher<User>(UserSerializer.Instance);

        Assert.True(patcher.TryApplyTyped(user, Parse(operations), out var result));
        Assert.True(result.Changed);
        Assert.Equal("Byron", result.Resource.Name!.FamilyName);
        Assert.False(result.Resource.Active);
        Assert.Equal("ada.byron@example.com", result.Resource.Emails!.Single(e => e.Type == "work").Value);
        Assert.Equal("26118915-6090-4610-87e4-49d8ca9f808d", result.Resource.EnterpriseUser!.Manager!.Value);
        Assert.NotEqual("Byron", user.Name!.FamilyName);
    }

    private static JsonObject RandomUserOperation(Random random)
    {
        string Word() => s_words[random.Next(s_words.Length)];
        string Type() => s_types[random.Next(s_types.Length)];
        JsonNode? Scalar() => random.Next(20) switch
        {
            0 or 1 => null,
            2 => JsonValue.Create(7),
            3 => JsonValue.Create(true),
            4 => new JsonArray(Word()),
            _ => JsonValue.Create(Word()),
        };
        JsonNode Flag() => random.Next(6) switch
        {
            0 => JsonValue.Create(true),
            1 => JsonValue.Create(false),
            2 => JsonValue.Create("False"),
            3 => JsonValue.Create("TRUE"),
            4 => JsonValue.Create("yes"),
            _ => JsonValue.Create(1),
        };
        string multi = new[] { "emails", "phoneNumbers", "addresses", "roles", "ims" }[random.Next(5)];
        string sub = multi == "addresses" ? new[] { "streetAddress", "locality", "type", "formatted" }[random.Next(4)] : new[] { "value", "display", "type" }[random.Next(3)];
        string filter = random.Next(6) switch
        {
            0 => $"type eq \"{Type()}\" and value sw \"{Word()}\"",
            1 => $"value eq \"{Word()}\"",
            2 => $"type eq \"{Type()}\" and display eq \"{Word()}\"",
            3 => "primary eq true",
            4 => $"not (type eq \"{Type()}\")",
            _ => $"type eq \"{Type()}\"",
        };
        string op = new[] { "add", "replace", "remove", "Add", "Replace", "Remove" }[random.Next(6)];
        (string? Path, JsonNode? Value) choice = random.Next(16) switch
        {
            0 => (new[] { "displayName", "nickName", "title", "userName", "profileUrl", "externalId", "password", "locale" }[random.Next(8)], Scalar()),
            1 => ("active", Flag()),
            2 => ("name." + new[] { "givenName", "familyName", "formatted", "middleName" }[random.Next(4)], Scalar()),
            3 => ($"{multi}[{filter}].{sub}", Scalar()),
            4 => ($"{multi}[{filter}]", null),
            5 => ($"{Enterprise}:" + new[] { "department", "costCenter", "employeeNumber" }[random.Next(3)], Scalar()),
            6 => ($"{Enterprise}:manager.value", Scalar()),
            7 => ($"{Enterprise}:manager", Scalar()),
            8 => (null, new JsonObject { ["displayName"] = Word(), ["name.givenName"] = Scalar(), ["active"] = Flag() }),
            9 => (null, new JsonObject { [$"{Enterprise}:department"] = Scalar(), ["title"] = Word(), ["unknownAttribute"] = "x" }),
            10 => (new[] { "id", "groups", "meta.created", "emails.value", "name", "emails" }[random.Next(6)], Scalar()),
            11 => ($"emails[type eq \"{Type()}\"].primary", Flag()),
            12 => (null, new JsonObject { ["id"] = "fixed-id", ["nickName"] = Word() }),
            13 => ("x509Certificates[value eq \"x\"].value", Scalar()),
            14 => ($"{multi}[{filter}].{sub}", JsonValue.Create(Word())),
            _ => (new[] { "nickName", "title", "userType" }[random.Next(3)], JsonValue.Create(Word())),
        };
        var operation = new JsonObject { ["op"] = op };
        if (choice.Path is not null)
        {
            operation["path"] = choice.Path;
        }

        if (!op.Equals("remove", StringComparison.OrdinalIgnoreCase) || random.Next(4) == 0)
        {
            operation["value"] = choice.Value?.DeepClone();
        }

        return operation;
    }

    private static JsonObject RandomGroupOperation(Random random)
    {
        string Id() => "m" + random.Next(6);
        JsonNode Members() => new JsonArray([.. Enumerable.Range(0, random.Next(3)).Select(_ => new JsonObject { ["value"] = Id(), ["display"] = "d" })]);
        string op = new[] { "add", "replace", "remove", "Add", "Remove" }[random.Next(5)];
        (string? Path, JsonNode? Value) choice = random.Next(8) switch
        {
            0 => ("displayName", random.Next(5) == 0 ? null : JsonValue.Create("Group " + random.Next(3))),
            1 => ("externalId", JsonValue.Create("e" + random.Next(2))),
            2 => ("members", Members()),
            3 => ($"members[value eq \"{Id()}\"]", null),
            4 => ($"members[value eq \"{Id()}\" or value eq \"{Id()}\"]", null),
            5 => (null, new JsonObject { ["displayName"] = "Group " + random.Next(3), ["externalId"] = "e" }),
            6 => ("members.display", JsonValue.Create("x")),
            _ => ("id", JsonValue.Create("g")),
        };
        var operation = new JsonObject { ["op"] = op };
        if (choice.Path is not null)
        {
            operation["path"] = choice.Path;
        }

        if (!op.Equals("remove", StringComparison.OrdinalIgnoreCase) || random.Next(3) == 0)
        {
            operation["value"] = choice.Value?.DeepClone();
        }

        return operation;
    }

    private static ScimPatchRequest Parse(JsonArray operations)
    {
        string body = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"), ["Operations"] = operations.DeepClone() }.ToJsonString();
        Assert.True(ScimPatchRequest.TryParse(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), out var request, out var error), error?.ToString());
        return request;
    }

    private static User ReadUser(string json)
    {
        Assert.True(UserSerializer.Instance.TryRead(Encoding.UTF8.GetBytes(json), ScimReadOptions.Trusted, out var user, out var error), error?.ToString());
        return user;
    }
}
