using System.Buffers;
using System.Text;

using Scim.Fast.Core.Patch;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Server.Protocol;

namespace Scim.Fast.Fuzz;

/// <summary>
/// One entry per parser that reads bytes from the network. A target returns normally for any input
/// (a refusal is a SCIM error value, not an exception); whatever it throws is a bug.
/// </summary>
public static class FuzzTargets
{
    public delegate void Target(byte[] input);

    private static readonly string[] FilterTokens =
    [
        " eq ", " ne ", " co ", " sw ", " ew ", " pr", " gt ", " ge ", " lt ", " le ", " and ", " or ", "not (", "(", ")",
        "[", "]", "\"", "\\\"", "\\u0000", "\\ud800", "userName", "emails", "emails.value", "members.value", "meta.lastModified",
        "name.givenName", "active", "true", "null", "1.5e300", "2026-01-01T00:00:00Z", "urn:ietf:params:scim:schemas:core:2.0:User:",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "id", "displayName", "value", "type",
    ];

    private static readonly string[] JsonTokens =
    [
        "{", "}", "[", "]", ":", ",", "\"", "null", "true", "false", "-0", "1e999", "\\u0000", "\\ud800", "\\\\", "\"schemas\":",
        "\"urn:ietf:params:scim:schemas:core:2.0:User\"", "\"urn:ietf:params:scim:schemas:core:2.0:Group\"",
        "\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"", "\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"",
        "\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"", "\"Operations\":", "\"op\":\"add\"", "\"op\":\"Replace\"",
        "\"op\":\"remove\"", "\"path\":", "\"value\":", "\"members\":", "\"emails\":", "\"userName\":", "\"displayName\":",
        "\"method\":\"POST\"", "\"method\":\"PATCH\"", "\"bulkId\":", "\"bulkId:a\"", "\"data\":", "\"filter\":", "\"attributes\":",
        "\"primary\":true", "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":", "\"manager\":", "\"count\":", "\"startIndex\":",
        "emails[type eq \\\"work\\\"].value", "members[value eq \\\"x\\\"]",
    ];

    /// <summary>The targets by name, with the tokens their mutations splice in.</summary>
    public static IReadOnlyDictionary<string, (Target Run, string[] Dictionary)> All { get; } = new Dictionary<string, (Target, string[])>(StringComparer.Ordinal)
    {
        ["filter"] = (Filter, FilterTokens),
        ["user-json"] = (UserJson, JsonTokens),
        ["group-json"] = (GroupJson, JsonTokens),
        ["patch"] = (Patch, JsonTokens),
        ["search-request"] = (SearchRequest, JsonTokens),
        ["bulk"] = (Bulk, JsonTokens),
        ["cursor"] = (Cursor, ["k0a:", "o1", ".", "AAAA", "-", "_", ":5:", "\uFFFF"]),
        ["query-string"] = (QueryString, [.. FilterTokens, "%22", "%2", "+", "%", "%FF", "%C3%A9"]),
        ["attributes"] = (Attributes, [.. FilterTokens, ",", ".value", "members[", "emails[", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]),
    };

    private static readonly User s_user = new()
    {
        Id = "u1",
        UserName = "ada@example.com",
        Active = true,
        Emails = [new User.EmailsValue { Value = "ada@example.com", Type = "work", Primary = true }, new User.EmailsValue { Value = "a@home.example", Type = "home" }],
        Name = new User.NameValue { GivenName = "Ada", FamilyName = "Lovelace" },
    };

    private static readonly ScimPatcher<User> s_userPatcher = new(UserSerializer.Instance);
    private static readonly Cursors s_cursors = Cursors.WithRandomKey();

    public static void Filter(byte[] input)
    {
        foreach (var type in new[] { ScimResourceTypes.User, ScimResourceTypes.Group })
        {
            if (FilterParser.TryParse(input, type, out var filter, out _) && type == ScimResourceTypes.User)
            {
                _ = CompiledFilter<User>.Compile(filter, UserAccessor.Instance).Matches(s_user);
                foreach (var conjunct in FilterPlanner.IndexableConjuncts(filter, UserIndexes.Catalogue))
                {
                    _ = conjunct.ToString();
                }
            }
        }
    }

    public static void UserJson(byte[] input) => RoundTrip(UserSerializer.Instance, input);

    public static void GroupJson(byte[] input) => RoundTrip(GroupSerializer.Instance, input);

    // What reads must write back and read again: a body the reader accepts is one the writer can
    // serialize, and the result reads back.
    private static void RoundTrip<T>(ScimResourceSerializer<T> serializer, byte[] input)
        where T : class, IScimResource
    {
        if (!serializer.TryRead(new ReadOnlySequence<byte>(input), ScimReadOptions.Request, out var resource, out _))
        {
            return;
        }

        var buffer = new ArrayBufferWriter<byte>();
        serializer.Write(buffer, resource, ScimProjection.Everything(serializer.ResourceType));
        if (!serializer.TryRead(new ReadOnlySequence<byte>(buffer.WrittenMemory), ScimReadOptions.Trusted, out _, out var error))
        {
            throw new InvalidOperationException("A resource the reader accepted does not read back after writing: " + error.Detail);
        }
    }

    public static void Patch(byte[] input)
    {
        if (ScimPatchRequest.TryParse(new ReadOnlySequence<byte>(input), out var request, out _))
        {
            var copy = UserSerializer.Instance.TryRead(new ReadOnlySequence<byte>(Write(s_user)), ScimReadOptions.Trusted, out var user, out _) ? user : throw new InvalidOperationException("sample user");
            _ = s_userPatcher.TryApply(copy, request, out _, out _);
        }
    }

    public static void SearchRequest(byte[] input)
    {
        if (ListQuery.TryFromSearchRequest(new ReadOnlySequence<byte>(input), out var query, out _))
        {
            _ = ScimProjection.TryCreate(ScimResourceTypes.User, query.Attributes, query.ExcludedAttributes, out _, out _);
        }
    }

    public static void Bulk(byte[] input)
    {
        if (BulkRequestParser.Parse(new ReadOnlySequence<byte>(input), new Server.ScimLimits().BulkMaxOperations, out _, out var operations) is not null)
        {
            return;
        }

        // Every reference resolved to an id with characters JSON must escape.
        var created = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var operation in operations)
        {
            foreach (var reference in operation.References)
            {
                created[reference] = "id\"\\/" + reference;
            }
        }

        foreach (var operation in operations)
        {
            BulkReferences.Resolve(operation, created);
            if (operation.Data is { } data)
            {
                // Resolution keeps valid JSON valid.
                _ = System.Text.Json.JsonDocument.Parse(data).RootElement.ValueKind;
            }
        }
    }

    public static void Cursor(byte[] input)
    {
        string text = Encoding.UTF8.GetString(input);
        string context = Cursors.Context(default, 1, null, null, null);
        _ = s_cursors.TryDecodePosition(context, text, 0, false, out _);
        _ = s_cursors.TryDecodeOffset(context, text, out _);
        if (s_cursors.TryDecodePosition(context, s_cursors.EncodePosition(context, 0, false, new Storage.Resources.OrderedPosition(text, "id")), 0, false, out var position)
            && position.Key != text)
        {
            throw new InvalidOperationException("A cursor did not round-trip its key.");
        }
    }

    public static void QueryString(byte[] input)
    {
        var decoded = new byte[input.Length];
        int length = ScimQueryString.FormDecode(input, decoded);
        _ = FilterParser.TryParse(decoded.AsSpan(0, length), ScimResourceTypes.User, out _, out _);
    }

    public static void Attributes(byte[] input)
    {
        string text = Encoding.UTF8.GetString(input);
        if (ScimProjection.TryCreate(ScimResourceTypes.User, text, null, out var projection, out _))
        {
            _ = UserSerializer.Instance.TryRead(new ReadOnlySequence<byte>(Write(s_user)), ScimReadOptions.Trusted, out var user, out _);
            foreach (var selection in projection.Selections)
            {
                var inner = CompiledFilter<User>.Compile(selection.Filter.Inner, UserAccessor.Instance);
                int count = UserAccessor.Instance.Count(user!, selection.Attribute.Ordinal);
                var remove = new bool[count];
                for (int i = 0; i < count; i++)
                {
                    remove[i] = inner.MatchesElement(user!, i) != selection.Keep;
                }

                UserAccessor.Instance.RemoveValues(user!, selection.Attribute.Ordinal, remove);
            }

            _ = Write(user!, projection);
        }

        _ = ScimProjection.TryCreate(ScimResourceTypes.Group, null, text, out _, out _);
    }

    private static byte[] Write(User user, ScimProjection? projection = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        UserSerializer.Instance.Write(buffer, user, projection ?? ScimProjection.Everything(ScimResourceTypes.User));
        return buffer.WrittenSpan.ToArray();
    }
}
