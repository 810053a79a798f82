namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// An incremental sync over seeded users: look the user up by userName, then one of a PATCH that
/// replaces attributes (Entra ID), a PUT of the whole user (Okta), or a deactivation/reactivation
/// PATCH; each response is checked.
/// </summary>
internal sealed class IncrementalScenario : IScenario
{
    private string[] _ids = [];

    public async Task SetupAsync(LoadContext context, CancellationToken cancellationToken) =>
        _ids = await Seed.UsersAsync(context, context.Options.Users, cancellationToken).ConfigureAwait(false);

    public async Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken)
    {
        int i = (int)((ulong)(sequence * 2654435761L) % (ulong)_ids.Length);
        string userName = Seed.UserName(i);
        var lookup = await context.SendAsync("GET /Users?filter=userName eq", HttpMethod.Get,
            "/Users?filter=userName+eq+%22" + Uri.EscapeDataString(userName) + "%22", cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!ReadScenario.Check(context, lookup.Status == 200 && (context.BaselineMode || ReadScenario.Contains(lookup.Body, _ids[i])), lookup.Status))
        {
            return false;
        }

        long before = context.BaselineMode ? 0 : Reply.ParseVersion((string?)lookup.Json!["Resources"]![0]!["meta"]!["version"]);

        Reply reply;
        string field, expected;
        switch (sequence % 3)
        {
            case 0:
                (field, expected) = ("displayName", "Changed " + sequence);
                reply = await context.SendAsync("PATCH /Users/{id} replace", HttpMethod.Patch, "/Users/" + _ids[i],
                    "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Changed " + sequence + "\"},"
                    + "{\"op\":\"Replace\",\"path\":\"emails[type eq \\\"work\\\"].value\",\"value\":\"" + userName + "\"}]}", cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
            case 1:
                (field, expected) = ("name.givenName", "Put" + sequence);
                reply = await context.SendAsync("PUT /Users/{id}", HttpMethod.Put, "/Users/" + _ids[i], Seed.UserJson(userName, Seed.ExternalId(i), "Put" + sequence), cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
            default:
                string active = sequence / 3 % 2 == 0 ? "False" : "True";
                (field, expected) = ("active", active.ToLowerInvariant());
                reply = await context.SendAsync("PATCH /Users/{id} active", HttpMethod.Patch, "/Users/" + _ids[i],
                    "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"Replace\",\"path\":\"active\",\"value\":\"" + active + "\"}]}", cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
        }

        // The answer is the changed user (body) at its version (ETag and meta.version), not only a 200.
        if (reply.Status != 200 || context.BaselineMode)
        {
            return ReadScenario.Check(context, reply.Status == 200, reply.Status);
        }

        var user = reply.Json!;
        var value = field.Split('.').Aggregate((System.Text.Json.Nodes.JsonNode?)user, (node, name) => node?[name]);
        bool changed = value?.ToJsonString().Trim('"') == expected && (string?)user["id"] == _ids[i];
        // A change that sets what was already there keeps its version (nothing changed); else it moves on.
        bool newer = reply.Version >= before && Reply.ParseVersion((string?)user["meta"]?["version"]) == reply.Version;
        return ReadScenario.Check(context, changed && newer, reply.Status);
    }
}
