using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;

namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// An identity provider's initial sync. With --batch 0, the Entra ID pattern per user: look the user
/// up by `filter=userName eq` (expect none), then POST it. With --batch N, /Bulk requests of N
/// creates each (the fast path for big syncs). The users phase is followed by a groups phase (see
/// <see cref="GroupsPhase"/>) that creates --groups groups with --members members each by /Bulk.
/// </summary>
internal sealed class InitialSyncScenario(string run) : IScenario
{
    private readonly ConcurrentDictionary<int, string> _created = new();

    public int Batch { get; private set; }

    /// <summary>Ids of the users created so far (the groups phase draws members from them).</summary>
    public IReadOnlyCollection<string> CreatedIds => (IReadOnlyCollection<string>)_created.Values;

    public Task SetupAsync(LoadContext context, CancellationToken cancellationToken)
    {
        Batch = context.Options.Batch;
        return Task.CompletedTask;
    }

    public string UserName(long i) => $"sync-{run}-{i:D7}@example.com";

    public async Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken)
    {
        if (Batch == 0)
        {
            string userName = UserName(sequence);
            var lookup = await context.SendAsync("GET /Users?filter=userName eq (miss)", HttpMethod.Get,
                "/Users?filter=userName+eq+%22" + Uri.EscapeDataString(userName) + "%22", cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!ReadScenario.Check(context, lookup.Status == 200 && (context.BaselineMode || ReadScenario.Contains(lookup.Body, "\"totalResults\":0,")), lookup.Status))
            {
                return false;
            }

            var created = await context.SendAsync("POST /Users", HttpMethod.Post, "/Users", Seed.UserJson(userName, "sx-" + run + "-" + sequence), cancellationToken: cancellationToken).ConfigureAwait(false);
            if (created.Status == 201 && !context.BaselineMode)
            {
                _created[(int)sequence] = (string)created.Json!["id"]!;
            }

            return ReadScenario.Check(context, created.Status == 201, created.Status);
        }

        var operations = new StringBuilder();
        long first = sequence * Batch;
        for (long i = first; i < first + Batch; i++)
        {
            operations.Append(i == first ? "" : ",").Append("{\"method\":\"POST\",\"path\":\"/Users\",\"bulkId\":\"u").Append(i).Append("\",\"data\":")
                .Append(Seed.UserJson(UserName(i), "sx-" + run + "-" + i)).Append('}');
        }

        var reply = await context.SendAsync("POST /Bulk (users)", HttpMethod.Post, "/Bulk",
            "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[" + operations + "]}", cancellationToken: cancellationToken).ConfigureAwait(false);
        if (reply.Status != 200)
        {
            return ReadScenario.Check(context, false, reply.Status);
        }

        if (context.BaselineMode)
        {
            return true;
        }

        var results = reply.Json!["Operations"]!.AsArray();
        bool ok = results.Count == Batch;
        for (int k = 0; k < results.Count; k++)
        {
            var result = results[k]!;
            if ((string?)result["status"] != "201")
            {
                ok = false;
                continue;
            }

            _created[(int)(first + k)] = ((string)result["location"]!).Split('/')[^1];
        }

        return ReadScenario.Check(context, ok, 200);
    }
}

/// <summary>The groups of an initial sync: /Bulk requests of 100 groups, each with --members members.</summary>
internal sealed class GroupsPhase(string run, string[] userIds) : IScenario
{
    public Task SetupAsync(LoadContext context, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task<bool> ExecuteAsync(LoadContext context, long sequence, CancellationToken cancellationToken)
    {
        const int groupsPerRequest = 100;
        int members = Math.Min(context.Options.Members, userIds.Length);
        var operations = new StringBuilder();
        var random = new Random((int)sequence);
        for (int g = 0; g < groupsPerRequest; g++)
        {
            long index = sequence * groupsPerRequest + g;
            var memberArray = new JsonArray();
            int start = random.Next(Math.Max(1, userIds.Length - members));
            for (int m = 0; m < members; m++)
            {
                memberArray.Add(new JsonObject { ["value"] = userIds[start + m] });
            }

            var group = new JsonObject
            {
                ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"),
                ["displayName"] = $"sync-{run}-group-{index:D6}",
                ["externalId"] = $"gx-{run}-{index}",
                ["members"] = memberArray,
            };
            operations.Append(g == 0 ? "" : ",").Append("{\"method\":\"POST\",\"path\":\"/Groups\",\"bulkId\":\"g").Append(index).Append("\",\"data\":")
                .Append(group.ToJsonString()).Append('}');
        }

        var reply = await context.SendAsync("POST /Bulk (groups)", HttpMethod.Post, "/Bulk",
            "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[" + operations + "]}", cancellationToken: cancellationToken).ConfigureAwait(false);
        if (reply.Status != 200 || context.BaselineMode)
        {
            return ReadScenario.Check(context, reply.Status == 200, reply.Status);
        }

        var results = reply.Json!["Operations"]!.AsArray();
        bool ok = results.Count == groupsPerRequest && results.All(r => (string?)r!["status"] == "201");
        return ReadScenario.Check(context, ok, 200);
    }
}
