namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// Writes at full speed (--op): POST /Users of new users, or PATCH /Users/{id} over seeded users
/// (replace displayName and flip active, what Entra ID sends on an attribute change). Each answer is
/// checked; with --baseline the same requests go to a bare Kestrel that reads the body and answers
/// with the server's bytes, so the ratio is the write path's cost against the HTTP ceiling.
/// </summary>
internal sealed class WriteScenario(string op, string run) : IScenario
{
    private string[] _ids = [];
    private long _created;

    public async Task SetupAsync(LoadContext context, CancellationToken cancellationToken)
    {
        if (op == "patch")
        {
            _ids = await Seed.UsersAsync(context, context.Options.Users, cancellationToken).ConfigureAwait(false);
        }
        else if (op != "post")
        {
            throw new ArgumentException($"--op must be post or patch for the write scenario, not '{op}'");
        }
    }

    public async Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken)
    {
        if (op == "post")
        {
            // A fresh userName per request, across warm-up, measurement and runs.
            long n = Interlocked.Increment(ref _created);
            string userName = $"write-{run}-{(context.BaselineMode ? "b" : "s")}-{n:D9}@example.com";
            var reply = await context.SendAsync("POST /Users", HttpMethod.Post, "/Users",
                Seed.UserJson(userName, $"wx-{run}-{n}"), cancellationToken: cancellationToken).ConfigureAwait(false);
            return ReadScenario.Check(context, reply.Status == 201 && (context.BaselineMode || ReadScenario.Contains(reply.Body, userName)), reply.Status);
        }

        int i = (int)((ulong)(sequence * 2654435761L) % (ulong)_ids.Length);
        string body = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":["
            + "{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Patched " + sequence + "\"},"
            + "{\"op\":\"Replace\",\"path\":\"active\",\"value\":\"" + (sequence % 2 == 0 ? "False" : "True") + "\"}]}";
        var patched = await context.SendAsync("PATCH /Users/{id}", HttpMethod.Patch, "/Users/" + _ids[i], body, cancellationToken: cancellationToken).ConfigureAwait(false);
        return ReadScenario.Check(context, patched.Status is 200 or 204, patched.Status);
    }
}
