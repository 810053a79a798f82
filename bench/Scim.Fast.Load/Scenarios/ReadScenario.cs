using System.Text;

namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// Reads over seeded users (--op): GET /Users/{id}, `filter=userName eq`, `filter=externalId eq`,
/// paging through everything by cursor, and the list queries of the query executor: a
/// meta.lastModified range over everything, a deep startIndex, `userName sw`, an unindexed filter
/// (a full scan) and an unindexed sortBy (a top-k). Each response is checked.
/// </summary>
internal sealed class ReadScenario(string op) : IScenario
{
    private string[] _ids = [];
    private int _users;
    private string _prefix = Seed.Prefix;

    private string UserName(int i) => Seed.UserName(_prefix, i);

    public Task SetupAsync(LoadContext context, CancellationToken cancellationToken) => SetupCoreAsync(context, cancellationToken);

    /// <summary>The seeded users' ids (after set-up).</summary>
    public IReadOnlyList<string> Ids => _ids;

    public async Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken)
    {
        int i = (int)((ulong)(sequence * 2654435761L) % (ulong)_users);
        switch (op)
        {
            case "get":
            {
                var reply = await context.SendAsync("GET /Users/{id}", HttpMethod.Get, "/Users/" + _ids[i], cancellationToken: cancellationToken).ConfigureAwait(false);
                return Check(context, reply.Status == 200 && (context.BaselineMode || Contains(reply.Body, _ids[i])), reply.Status);
            }

            case "username":
            {
                var reply = await context.SendAsync("GET /Users?filter=userName eq", HttpMethod.Get,
                    "/Users?filter=userName+eq+%22" + Uri.EscapeDataString(UserName(i)) + "%22", cancellationToken: cancellationToken).ConfigureAwait(false);
                return Check(context, reply.Status == 200 && (context.BaselineMode || (Contains(reply.Body, "\"totalResults\":1,") && Contains(reply.Body, _ids[i]))), reply.Status);
            }

            case "externalid":
            {
                var reply = await context.SendAsync("GET /Users?filter=externalId eq", HttpMethod.Get,
                    "/Users?filter=externalId+eq+%22" + Seed.ExternalId(i) + "%22", cancellationToken: cancellationToken).ConfigureAwait(false);
                return Check(context, reply.Status == 200 && (context.BaselineMode || (Contains(reply.Body, "\"totalResults\":1,") && Contains(reply.Body, _ids[i]))), reply.Status);
            }

            case "page":
            {
                // One operation pages through every user, 1000 at a time: every seeded user exactly once.
                string cursor = "";
                var seen = new HashSet<string>(StringComparer.Ordinal);
                bool repeated = false;
                do
                {
                    var reply = await context.SendAsync("GET /Users?cursor", HttpMethod.Get, "/Users?count=1000&cursor=" + Uri.EscapeDataString(cursor), cancellationToken: cancellationToken).ConfigureAwait(false);
                    if (reply.Status != 200)
                    {
                        return Check(context, false, reply.Status);
                    }

                    if (context.BaselineMode)
                    {
                        return true;
                    }

                    var json = reply.Json!;
                    foreach (var resource in json["Resources"]!.AsArray())
                    {
                        repeated |= !seen.Add((string)resource!["id"]!);
                    }

                    cursor = (string?)json["nextCursor"] ?? "";
                }
                while (cursor.Length > 0);

                return Check(context, !repeated && _ids.All(seen.Contains), 200);
            }

            case "range":
            {
                // A delta sync over everything: every user matches, five come back.
                var reply = await context.SendAsync("GET /Users?filter=meta.lastModified gt&count=5", HttpMethod.Get,
                    "/Users?filter=meta.lastModified+gt+%222000-01-01T00%3A00%3A00Z%22&count=5&attributes=id", cancellationToken: cancellationToken).ConfigureAwait(false);
                return Check(context, reply.Status == 200 && (context.BaselineMode || (TotalAtLeast(reply, _users) && ItemsPerPage(reply) == 5)), reply.Status);
            }

            case "deep-page":
            {
                // startIndex near the end of every user.
                var reply = await context.SendAsync("GET /Users?startIndex=n-1000&count=1", HttpMethod.Get,
                    $"/Users?startIndex={Math.Max(1, _users - 1000 + i % 1000)}&count=1&attributes=id", cancellationToken: cancellationToken).ConfigureAwait(false);
                return Check(context, reply.Status == 200 && (context.BaselineMode || (TotalAtLeast(reply, _users) && ItemsPerPage(reply) == 1)), reply.Status);
            }

            case "sw":
            {
                // A prefix that holds ten users (load-000123…): userName sw on the folded name index.
                string prefix = Uri.EscapeDataString(UserName(i)[..(_prefix.Length + 6)]);
                var reply = await context.SendAsync("GET /Users?filter=userName sw", HttpMethod.Get,
                    "/Users?filter=userName+sw+%22" + prefix + "%22&attributes=id", cancellationToken: cancellationToken).ConfigureAwait(false);
                return Check(context, reply.Status == 200 && (context.BaselineMode || (Contains(reply.Body, _ids[i]) && ItemsPerPage(reply) == Math.Min(10, _users - (i / 10 * 10)))), reply.Status);
            }

            case "scan":
            {
                // A filter no index answers, matching nobody: every user is read and tested.
                var reply = await context.SendAsync("GET /Users?filter=name.familyName co", HttpMethod.Get,
                    "/Users?filter=name.familyName+co+%22zz%22", cancellationToken: cancellationToken).ConfigureAwait(false);
                return Check(context, reply.Status == 200 && (context.BaselineMode || Contains(reply.Body, "\"totalResults\":0,")), reply.Status);
            }

            case "sort":
            {
                // sortBy without an ordered index: a top-k over every user.
                var reply = await context.SendAsync("GET /Users?sortBy=name.familyName&count=10", HttpMethod.Get,
                    "/Users?sortBy=name.familyName&sortOrder=descending&count=10&attributes=id", cancellationToken: cancellationToken).ConfigureAwait(false);
                return Check(context, reply.Status == 200 && (context.BaselineMode || (TotalAtLeast(reply, _users) && ItemsPerPage(reply) == 10)), reply.Status);
            }

            default:
                throw new ArgumentException($"--op must be get, username, externalid, page, range, deep-page, sw, scan or sort, not '{op}'");
        }
    }

    private async Task SetupCoreAsync(LoadContext context, CancellationToken cancellationToken)
    {
        _users = context.Options.Users;
        if (context.Options.UsersNamed is { } prefix)
        {
            // Users an initial-sync made (with their groups): read as they are, never seeded here.
            if (op == "externalid")
            {
                throw new ArgumentException("--op externalid reads seeded users' externalIds: not with --users-named");
            }

            _prefix = prefix;
            _ids = await Seed.IdsAsync(context, prefix, _users, cancellationToken).ConfigureAwait(false);
            return;
        }

        _ids = await Seed.UsersAsync(context, _users, cancellationToken).ConfigureAwait(false);
    }

    private static bool TotalAtLeast(Reply reply, int users) => (int?)reply.Json?["totalResults"] >= users;

    private static int ItemsPerPage(Reply reply) => (int?)reply.Json?["itemsPerPage"] ?? -1;

    internal static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    internal static bool Check(LoadContext context, bool ok, int status)
    {
        if (!ok)
        {
            context.CountError(status >= 400 ? status.ToString(System.Globalization.CultureInfo.InvariantCulture) : "check failed (" + status + ")");
        }

        return ok;
    }
}
