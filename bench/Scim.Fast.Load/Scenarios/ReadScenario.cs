using System.Text;

namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// Reads over seeded users: GET /Users/{id}, `filter=userName eq`, `filter=externalId eq`, or paging
/// through everything by cursor (--op). Each response is checked: the right user, exactly once.
/// </summary>
internal sealed class ReadScenario(string op) : IScenario
{
    private string[] _ids = [];
    private int _users;

    public Task SetupAsync(LoadContext context, CancellationToken cancellationToken) => SetupCoreAsync(context, cancellationToken);

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
                    "/Users?filter=userName+eq+%22" + Uri.EscapeDataString(Seed.UserName(i)) + "%22", cancellationToken: cancellationToken).ConfigureAwait(false);
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
                // One operation pages through every user, 1000 at a time, checking the count.
                string cursor = "";
                long seen = 0;
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
                    seen += json["Resources"]!.AsArray().Count;
                    cursor = (string?)json["nextCursor"] ?? "";
                }
                while (cursor.Length > 0);

                return Check(context, seen >= _users, 200);
            }

            default:
                throw new ArgumentException($"--op must be get, username, externalid or page, not '{op}'");
        }
    }

    private async Task SetupCoreAsync(LoadContext context, CancellationToken cancellationToken)
    {
        _users = context.Options.Users;
        _ids = await Seed.UsersAsync(context, _users, cancellationToken).ConfigureAwait(false);
    }

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
