using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Patch;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Tests.Patch;

/// <summary>
/// Fixed-seed differential test: random PATCH requests on random users, <see cref="ScimPatcher{TResource}"/>
/// against <see cref="ReferencePatch"/>, a plain implementation over a handful of typed fields.
/// Either both fail with the same scimType, or both succeed with the same resulting resource.
/// </summary>
public sealed class PatchDifferentialTests
{
    private const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    private static readonly string[] s_words = ["a", "b", "Work", "work", "home", "x@example.com"];
    private static readonly string[] s_types = ["work", "home", "other"];

    [Fact]
    public void Patcher_AgreesWithReferenceImplementation_On10000RandomRequests()
    {
        var random = new Random(3552);
        var patcher = new ScimPatcher<User>(UserSerializer.Instance);
        int succeeded = 0;
        int failed = 0;
        for (int i = 0; i < 10_000; i++)
        {
            var model = ReferencePatch.Model.Random(random);
            var operations = new JsonArray();
            int count = random.Next(4);
            for (int o = 0; o < count; o++)
            {
                operations.Add(RandomOperation(random));
            }

            string body = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"), ["Operations"] = operations }.ToJsonString();
            Assert.True(ScimPatchRequest.TryParse(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), out var request, out var parseError), parseError?.ToString());

            var expectedError = ReferencePatch.Apply(model, operations, out var expected);
            bool ok = patcher.TryApply(model.ToUser(), request, out var result, out var error);

            if (expectedError is { } type)
            {
                Assert.False(ok, $"#{i}: reference failed with {type}, patcher succeeded: {body}");
                Assert.True(type == error!.Type, $"#{i}: reference {type}, patcher {error}: {body}");
                failed++;
            }
            else
            {
                Assert.True(ok, $"#{i}: reference succeeded, patcher failed with {error}: {body}");
                string want = TestJson.WriteUser(expected!.ToUser(), ScimProjection.Everything(ScimResourceTypes.User));
                string got = TestJson.WriteUser(result!.Resource, ScimProjection.Everything(ScimResourceTypes.User));
                Assert.True(want == got, $"#{i}: {body}\nstart    {TestJson.WriteUser(model.ToUser())}\nexpected {want}\nactual   {got}");
                succeeded++;
            }
        }

        Assert.True(succeeded > 5_000 && failed > 500, $"{succeeded} succeeded, {failed} failed: the mix is off");
    }

    private static JsonObject RandomOperation(Random random)
    {
        string Word() => s_words[random.Next(s_words.Length)];
        string Type() => s_types[random.Next(s_types.Length)];
        JsonObject Email() => random.Next(3) == 0
            ? new JsonObject { ["value"] = Word(), ["type"] = Type(), ["primary"] = random.Next(2) == 0 }
            : new JsonObject { ["value"] = Word(), ["type"] = Type() };
        string op = new[] { "add", "replace", "remove", "Add", "Replace", "Remove" }[random.Next(6)];
        (string? Path, JsonNode? Value) choice = random.Next(14) switch
        {
            0 => (new[] { "displayName", "nickName", "title", "userName", "NickName" }[random.Next(5)], Word()),
            1 => ("active", random.Next(3) switch { 0 => JsonValue.Create(true), 1 => JsonValue.Create("False"), _ => JsonValue.Create(false) }),
            2 => (random.Next(2) == 0 ? "name.givenName" : "name.familyName", Word()),
            3 => ("name", new JsonObject { ["givenName"] = Word() }),
            4 => ("emails", new JsonArray(Email(), Email())),
            5 => ("emails", Email()),
            6 => ($"emails[type eq \"{Type()}\"]", Email()),
            7 => ($"emails[type eq \"{Type()}\"].value", Word()),
            8 => ($"emails[type eq \"{Type()}\"].primary", true),
            9 => (Enterprise + ":department", Word()),
            10 => (null, new JsonObject { ["nickName"] = Word(), ["name.givenName"] = Word() }),
            11 => (null, new JsonObject { ["title"] = Word(), [Enterprise] = new JsonObject { ["department"] = Word() } }),
            12 => (null, new JsonObject { ["emails"] = new JsonArray(Email()) }),
            _ => ($"emails[value eq \"{Word()}\"]", null),
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
}

/// <summary>
/// PATCH done the plain way on a few typed fields, written from RFC 7644 §3.5.2 apart from the
/// engine: no schema tables, no JSON document, one branch per path.
/// </summary>
internal static class ReferencePatch
{
    internal sealed class Email
    {
        public string? Value;
        public string? Type;
        public bool? Primary;

        public Email Copy() => new() { Value = Value, Type = Type, Primary = Primary };

        public bool SameAs(Email other) => Value == other.Value && Type == other.Type && Primary == other.Primary;
    }

    internal sealed class Model
    {
        public string UserName = "u";
        public string? DisplayName;
        public string? NickName;
        public string? Title;
        public bool? Active;
        public string? GivenName;
        public string? FamilyName;
        public List<Email> Emails = [];
        public string? Department;

        public static Model Random(Random random)
        {
            var model = new Model
            {
                UserName = "user" + random.Next(100),
                DisplayName = random.Next(2) == 0 ? "d" : null,
                Title = random.Next(2) == 0 ? "t" : null,
                Active = random.Next(3) switch { 0 => null, 1 => true, _ => false },
                GivenName = random.Next(2) == 0 ? "g" : null,
                Department = random.Next(3) == 0 ? "dep" : null,
            };
            int emails = random.Next(3);
            for (int i = 0; i < emails; i++)
            {
                model.Emails.Add(new Email { Value = "e" + i, Type = i == 0 ? "work" : "home", Primary = i == 0 ? true : null });
            }

            return model;
        }

        public Model Copy()
        {
            var copy = (Model)MemberwiseClone();
            copy.Emails = [.. Emails.Select(e => e.Copy())];
            return copy;
        }

        public User ToUser() => new()
        {
            Id = "fixed-id",
            UserName = UserName,
            DisplayName = DisplayName,
            NickName = NickName,
            Title = Title,
            Active = Active,
            Name = GivenName is null && FamilyName is null ? null : new User.NameValue { GivenName = GivenName, FamilyName = FamilyName },
            Emails = Emails.Count == 0 ? null : [.. Emails.Select(e => new User.EmailsValue { Value = e.Value, Type = e.Type, Primary = e.Primary })],
            EnterpriseUser = Department is null ? null : new EnterpriseUser { Department = Department },
        };
    }

    /// <summary>Applies the operations to a copy; returns the error type, or null and the result.</summary>
    public static ScimErrorType? Apply(Model original, JsonArray operations, out Model? result)
    {
        var model = original.Copy();
        result = null;
        foreach (var node in operations)
        {
            var operation = node!.AsObject();
            string op = ((string)operation["op"]!).ToLowerInvariant();
            string? path = (string?)operation["path"];
            var value = operation["value"];
            ScimErrorType? error = path is null ? Pathless(model, op, value) : At(model, op, path, value);
            if (error is not null)
            {
                return error;
            }
        }

        result = model;
        return null;
    }

    private static ScimErrorType? Pathless(Model model, string op, JsonNode? value)
    {
        if (op == "remove")
        {
            return ScimErrorType.NoTarget;
        }

        foreach (var (key, member) in value!.AsObject())
        {
            if (key == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
            {
                var error = At(model, op, key + ":department", member!["department"]);
                if (error is not null)
                {
                    return error;
                }

                continue;
            }

            var result = At(model, op, key, member);
            if (result is not null)
            {
                return result;
            }
        }

        return null;
    }

    private static ScimErrorType? At(Model model, string op, string path, JsonNode? value)
    {
        if (op != "remove" && value is null)
        {
            // An explicit null unassigns (RFC 7643 §2.5).
            op = "remove";
        }

        string? text = value is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        switch (path.ToLowerInvariant())
        {
            case "username":
                if (op == "remove")
                {
                    return ScimErrorType.Mutability; // required
                }

                model.UserName = text!;
                return null;
            case "displayname":
                model.DisplayName = op == "remove" ? null : text;
                return null;
            case "nickname":
                model.NickName = op == "remove" ? null : text;
                return null;
            case "title":
                model.Title = op == "remove" ? null : text;
                return null;
            case "active":
                model.Active = op == "remove" ? null : value!.GetValueKind() == System.Text.Json.JsonValueKind.String ? bool.Parse(text!) : value.GetValue<bool>();
                return null;
            case "name.givenname":
                model.GivenName = op == "remove" ? null : text;
                return null;
            case "name.familyname":
                model.FamilyName = op == "remove" ? null : text;
                return null;
            case "name":
                if (op == "remove")
                {
                    model.GivenName = model.FamilyName = null;
                }
                else
                {
                    model.GivenName = (string?)value!["givenName"] ?? model.GivenName; // sub-attributes not named stay
                }

                return null;
            case "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department":
                model.Department = op == "remove" ? null : text;
                return null;
            case "emails":
                return Emails(model, op, value);
        }

        return FilteredEmails(model, op, path, value);
    }

    private static ScimErrorType? Emails(Model model, string op, JsonNode? value)
    {
        if (op == "remove")
        {
            if (value is null)
            {
                model.Emails.Clear();
                return null;
            }

            foreach (var item in value is JsonArray list ? [.. list] : new JsonNode?[] { value })
            {
                model.Emails.RemoveAll(e => e.Value is not null && string.Equals(e.Value, (string?)item!["value"], StringComparison.OrdinalIgnoreCase));
            }

            return null;
        }

        var given = (value is JsonArray array ? [.. array] : new JsonNode?[] { value }).Select(Parse).ToList();
        if (op == "replace")
        {
            model.Emails = given;
            var last = given.LastOrDefault(e => e.Primary == true);
            if (last is not null)
            {
                ClearOtherPrimaries(model, last);
            }

            return null;
        }

        foreach (var email in given)
        {
            if (!model.Emails.Any(e => e.SameAs(email)))
            {
                model.Emails.Add(email);
                if (email.Primary == true)
                {
                    ClearOtherPrimaries(model, email);
                }
            }
        }

        return null;
    }

    private static ScimErrorType? FilteredEmails(Model model, string op, string path, JsonNode? value)
    {
        // emails[type eq "work"], emails[type eq "work"].value / .primary, emails[value eq "x"]
        int close = path.IndexOf(']', StringComparison.Ordinal);
        string filter = path["emails[".Length..close];
        string? sub = close + 1 < path.Length ? path[(close + 2)..] : null;
        string[] parts = filter.Split(' ', 3);
        string wanted = parts[2].Trim('"');
        var matching = model.Emails.Where(e => string.Equals(parts[0] == "type" ? e.Type : e.Value, wanted, StringComparison.OrdinalIgnoreCase)).ToList();
        if (matching.Count == 0)
        {
            if (op != "remove" && sub is not null)
            {
                // Entra ID: create the element the filter describes.
                var created = new Email { Type = parts[0] == "type" ? wanted : null, Value = parts[0] == "value" ? wanted : null };
                SetSub(created, sub, value!);
                model.Emails.Add(created);
                if (created.Primary == true)
                {
                    ClearOtherPrimaries(model, created);
                }

                return null;
            }

            return ScimErrorType.NoTarget;
        }

        foreach (var email in matching)
        {
            if (op == "remove")
            {
                if (sub is null)
                {
                    model.Emails.Remove(email);
                }
                else
                {
                    SetSub(email, sub, null);
                }

                continue;
            }

            if (sub is not null)
            {
                SetSub(email, sub, value!);
            }
            else
            {
                var given = Parse(value);
                if (op == "replace")
                {
                    email.Value = given.Value;
                    email.Type = given.Type;
                    email.Primary = given.Primary;
                }
                else
                {
                    email.Value = given.Value ?? email.Value;
                    email.Type = given.Type ?? email.Type;
                    email.Primary = given.Primary ?? email.Primary;
                }
            }

            if (email.Primary == true)
            {
                ClearOtherPrimaries(model, email);
            }
        }

        return null;
    }

    private static void SetSub(Email email, string sub, JsonNode? value)
    {
        if (sub == "value")
        {
            email.Value = (string?)value;
        }
        else
        {
            email.Primary = value is null ? null : (bool)value;
        }
    }

    private static Email Parse(JsonNode? node) => new()
    {
        Value = (string?)node!["value"],
        Type = (string?)node["type"],
        Primary = (bool?)node["primary"],
    };

    private static void ClearOtherPrimaries(Model model, Email winner)
    {
        foreach (var email in model.Emails)
        {
            if (!ReferenceEquals(email, winner) && email.Primary == true)
            {
                email.Primary = false;
            }
        }
    }
}
