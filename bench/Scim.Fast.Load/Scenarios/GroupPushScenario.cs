using System.Text;

namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// Group push as Entra ID and Okta do it: groups created empty, then members added by PATCH in
/// batches of --members. With --big-group N, the measured operations instead add and remove one
/// member on a group of N members and on a group of 10, side by side, so their latencies compare
/// (membership cost must not depend on group size).
/// </summary>
internal sealed class GroupPushScenario(string run) : IScenario
{
    private string[] _users = [];
    private string[] _groups = [];
    private string _bigGroup = "";
    private string _smallGroup = "";
    private int _bigSize;

    public async Task SetupAsync(LoadContext context, CancellationToken cancellationToken)
    {
        var options = context.Options;
        _bigSize = options.BigGroup;
        int users = Math.Max(options.Users, _bigSize + 1000);
        _users = await Seed.UsersAsync(context, users, cancellationToken).ConfigureAwait(false);
        if (_bigSize > 0)
        {
            _bigGroup = await CreateGroupAsync(context, $"big-{_bigSize}", cancellationToken).ConfigureAwait(false);
            _smallGroup = await CreateGroupAsync(context, $"small-{run}", cancellationToken).ConfigureAwait(false);
            Console.Error.WriteLine($"filling a group of {_bigSize:N0} members …");
            await AddAsync(context, _smallGroup, 0, 10, "seed", cancellationToken).ConfigureAwait(false);
            if (!await HasMemberAsync(context, _bigGroup, _users[_bigSize - 1], cancellationToken).ConfigureAwait(false))
            {
                int next = 0;
                await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
                {
                    int start;
                    while ((start = Interlocked.Add(ref next, 1000) - 1000) < _bigSize)
                    {
                        await AddAsync(context, _bigGroup, start, Math.Min(1000, _bigSize - start), "seed", cancellationToken).ConfigureAwait(false);
                    }
                }, cancellationToken))).ConfigureAwait(false);
            }

            return;
        }

        _groups = new string[Math.Max(1, options.Groups)];
        for (int g = 0; g < _groups.Length; g++)
        {
            _groups[g] = await CreateGroupAsync(context, $"push-{run}-{g:D5}", cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken)
    {
        if (_bigSize > 0)
        {
            // A member outside both groups: toggled in and out of one of them.
            bool big = sequence % 2 == 0;
            string group = big ? _bigGroup : _smallGroup;
            string kind = big ? $"PATCH 1 member ({_bigSize:N0}-member group)" : "PATCH 1 member (10-member group)";
            int member = _bigSize + (int)(sequence / 2 % 500) * 2 + (big ? 0 : 1);
            bool added = await PatchAsync(context, group, "add", [_users[member]], kind + " add", cancellationToken).ConfigureAwait(false);
            bool removed = await PatchAsync(context, group, "remove", [_users[member]], kind + " remove", cancellationToken).ConfigureAwait(false);
            return added && removed;
        }

        int batch = context.Options.Members;
        string target = _groups[sequence % _groups.Length];
        int first = (int)(sequence * batch % Math.Max(1, _users.Length - batch));
        return await AddAsync(context, target, first, batch, $"PATCH add {batch} members", cancellationToken).ConfigureAwait(false);
    }

    private Task<bool> AddAsync(LoadContext context, string group, int first, int count, string kind, CancellationToken cancellationToken) =>
        PatchAsync(context, group, "add", _users.AsSpan(first, count).ToArray(), kind, cancellationToken);

    // Versions answered per group: two changes answered with one version would be a lost update.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Group, long Version), bool> s_versions = new();

    private static async Task<bool> PatchAsync(LoadContext context, string group, string op, string[] members, string kind, CancellationToken cancellationToken)
    {
        var values = new StringBuilder();
        foreach (var member in members)
        {
            values.Append(values.Length == 0 ? "" : ",").Append("{\"value\":\"").Append(member).Append("\"}");
        }

        string body = op == "add"
            ? "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"Add\",\"path\":\"members\",\"value\":[" + values + "]}]}"
            : "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"Remove\",\"path\":\"members\",\"value\":[" + values + "]}]}";
        var reply = await context.SendAsync(kind, HttpMethod.Patch, "/Groups/" + group, body, cancellationToken: cancellationToken).ConfigureAwait(false);

        // 204 with the group's new version: each change gets a version of its own.
        bool versioned = context.BaselineMode || (reply.Version > 1 && s_versions.TryAdd((group, reply.Version), true));
        return ReadScenario.Check(context, reply.Status == 204 && versioned, reply.Status);
    }

    private static async Task<string> CreateGroupAsync(LoadContext context, string name, CancellationToken cancellationToken)
    {
        var existing = await context.SendAsync("seed", HttpMethod.Get, "/Groups?excludedAttributes=members&filter=displayName+eq+%22" + Uri.EscapeDataString(name) + "%22", cancellationToken: cancellationToken).ConfigureAwait(false);
        if ((int?)existing.Json?["totalResults"] == 1)
        {
            return (string)existing.Json!["Resources"]![0]!["id"]!;
        }

        var created = await context.SendAsync("seed", HttpMethod.Post, "/Groups?excludedAttributes=members",
            "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"" + name + "\"}", cancellationToken: cancellationToken).ConfigureAwait(false);
        if (created.Status != 201)
        {
            throw new InvalidOperationException($"creating group {name} failed: {created.Status} {Encoding.UTF8.GetString(created.Body)}");
        }

        return (string)created.Json!["id"]!;
    }

    // Whether a member is in the group (an earlier run filled the big group if its last member is there).
    private static async Task<bool> HasMemberAsync(LoadContext context, string group, string member, CancellationToken cancellationToken)
    {
        string filter = Uri.EscapeDataString($"id eq \"{group}\" and members.value eq \"{member}\"");
        var reply = await context.SendAsync("seed", HttpMethod.Get, "/Groups?excludedAttributes=members&count=0&filter=" + filter, cancellationToken: cancellationToken).ConfigureAwait(false);
        return (int?)reply.Json?["totalResults"] == 1;
    }
}
