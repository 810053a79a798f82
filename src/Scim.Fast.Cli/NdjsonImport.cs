using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Scim.Fast.Cli;

/// <summary>
/// Imports an NDJSON file of SCIM resources through /Bulk (RFC 7644 §3.7): Users first, in batches,
/// then Groups with their members' ids replaced by the ids their users got here (ids are the
/// server's, RFC 7643 §3.1: an import creates new ones). A line the server refuses goes to the
/// errors file with its SCIM error; the rest are imported.
/// </summary>
/// <summary>A resource to import and the line it came from, or why that line is no resource.</summary>
internal readonly record struct ImportRecord(long Line, JsonObject? Resource, string? ScimType = null, string? Error = null);

internal sealed partial class NdjsonImport(ScimTarget target, int batch)
{
    private const string GroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
    private const int GroupBatch = 100;
    private const int InFlight = 4;

    // A PATCH adding members stays under this many bytes (and under the target's /Bulk payload
    // limit): a server's own body limit is not advertised, and 1 MiB is the default.
    private const int MemberPatchBytes = 256 << 10;

    // Old id (the file's) → new id (this server's), users and groups alike.
    private readonly Dictionary<string, string> _ids = new(StringComparer.Ordinal);

    // The target's /Bulk limits (RFC 7643 §5, ServiceProviderConfig bulk.maxPayloadSize and
    // maxOperations), read before the first request.
    private int _maxPayloadBytes;
    private int _maxOperations;

    public long UsersCreated { get; private set; }

    public long GroupsCreated { get; private set; }

    public long Rejected { get; private set; }

    public Task RunAsync(FileInfo file, StreamWriter errors, Action<long> progress, CancellationToken cancel) =>
        target.DirectUserCreates is { } direct
            ? RunDirectAsync(file, direct, errors, progress, cancel)
            : RunAsync(ReadNdjson(file), errors, progress, cancel);

    /// <summary>Imports resources read from any source (NDJSON lines, CSV rows), each with the line it came from.</summary>
    public async Task RunAsync(IEnumerable<ImportRecord> records, StreamWriter errors, Action<long> progress, CancellationToken cancel)
    {
        var users = new List<Item>(batch);
        var groups = new List<Item>();
        var inflight = new Queue<(int Count, Task<Outcome> Post)>();
        long done = 0;
        foreach (var record in records)
        {
            long line = record.Line;
            if (record.Resource is not { } resource)
            {
                await RejectAsync(errors, line, 400, record.ScimType, record.Error).ConfigureAwait(false);
                continue;
            }

            var item = new Item(line, (string?)resource["id"], resource);
            if (IsGroup(resource))
            {
                groups.Add(item);
                continue;
            }

            users.Add(item);
            if (users.Count == batch)
            {
                // Several batches in flight: one is parsed and checked while another's commit is on disk.
                inflight.Enqueue((users.Count, PostAsync("/Users", users, cancel)));
                users = new List<Item>(batch);
                if (inflight.Count == InFlight)
                {
                    done += await DrainAsync(inflight.Dequeue(), errors, user: true).ConfigureAwait(false);
                    progress(done);
                }
            }
        }

        inflight.Enqueue((users.Count, PostAsync("/Users", users, cancel)));
        while (inflight.TryDequeue(out var pending))
        {
            done += await DrainAsync(pending, errors, user: true).ConfigureAwait(false);
            progress(done);
        }

        await ImportGroupsAsync(groups, done, errors, progress, cancel).ConfigureAwait(false);
    }

    // Groups after every user, then the members that are groups themselves.
    private async Task ImportGroupsAsync(List<Item> groups, long done, StreamWriter errors, Action<long> progress, CancellationToken cancel)
    {
        // Groups after every user, members pointing at the users' new ids. A member that is itself
        // a group of the file (nested groups) may not exist yet: added once every group does.
        var groupIds = new HashSet<string>(groups.Where(g => g.OldId is not null).Select(g => g.OldId!), StringComparer.Ordinal);
        var nested = new List<(Item Group, string Member)>();
        for (int start = 0; start < groups.Count; start += GroupBatch)
        {
            var chunk = groups.GetRange(start, Math.Min(GroupBatch, groups.Count - start));
            foreach (var group in chunk)
            {
                await RemapMembersAsync(group, groupIds, nested, errors).ConfigureAwait(false);
            }

            done += await DrainAsync((chunk.Count, PostAsync("/Groups", chunk, cancel)), errors, user: false).ConfigureAwait(false);
            progress(done);
        }

        await AddNestedMembersAsync(nested, errors, cancel).ConfigureAwait(false);
    }

    // One record per non-empty line; a line that is no JSON object is a record with its error.
    private static IEnumerable<ImportRecord> ReadNdjson(FileInfo file)
    {
        long line = 0;
        foreach (string text in File.ReadLines(file.FullName))
        {
            line++;
            if (text.Length == 0)
            {
                continue;
            }

            JsonObject? resource = null;
            string? error = null;
            try
            {
                resource = JsonNode.Parse(text) as JsonObject;
            }
            catch (JsonException e)
            {
                error = e.Message;
            }

            yield return resource is not null ? new ImportRecord(line, resource) : new ImportRecord(line, null, "invalidSyntax", "Not a JSON object: " + error);
        }
    }

    // PATCH add (RFC 7644 §3.5.2.1) of the group members that are groups, per group.
    private async Task AddNestedMembersAsync(List<(Item Group, string Member)> nested, StreamWriter errors, CancellationToken cancel)
    {
        foreach (var byGroup in nested.GroupBy(n => n.Group))
        {
            if (byGroup.Key.OldId is not { } oldGroup || !_ids.TryGetValue(oldGroup, out var groupId))
            {
                continue; // the group itself was refused, and reported
            }

            var members = new JsonArray();
            foreach (var (_, member) in byGroup)
            {
                if (_ids.TryGetValue(member, out var mapped))
                {
                    members.Add(new JsonObject { ["value"] = mapped });
                }
                else
                {
                    await RejectAsync(errors, byGroup.Key.Line, 400, "invalidValue", $"Member group '{member}' was not imported; the group is imported without it.").ConfigureAwait(false);
                }
            }

            if (members.Count == 0)
            {
                continue;
            }

            await ReadLimitsAsync(cancel).ConfigureAwait(false);
            if (await AddMembersAsync(groupId, members, cancel).ConfigureAwait(false) is { } failure)
            {
                await RejectAsync(errors, byGroup.Key.Line, failure.Status, failure.ScimType, failure.Detail).ConfigureAwait(false);
            }
        }
    }

    private static bool IsGroup(JsonObject resource) =>
        resource["schemas"] is JsonArray schemas && schemas.Any(s => string.Equals((string?)s, GroupSchema, StringComparison.OrdinalIgnoreCase));

    private async Task RemapMembersAsync(Item group, HashSet<string> groupIds, List<(Item Group, string Member)> nested, StreamWriter errors)
    {
        if (group.Resource["members"] is not JsonArray members)
        {
            return;
        }

        var kept = new JsonArray();
        foreach (var member in members)
        {
            string? old = (string?)member?["value"];
            if (old is not null && groupIds.Contains(old))
            {
                nested.Add((group, old));
            }
            else if (old is not null && _ids.TryGetValue(old, out var mapped))
            {
                kept.Add(new JsonObject { ["value"] = mapped });
            }
            else
            {
                await RejectAsync(errors, group.Line, 400, "invalidValue", $"Member '{old}' is not a resource imported before this group; the group is imported without it.").ConfigureAwait(false);
            }
        }

        group.Resource["members"] = kept;
    }

    // Waits for one /Bulk request; records its new ids and writes its rejections (one at a time, in file order).
    private async Task<int> DrainAsync((int Count, Task<Outcome> Post) pending, StreamWriter errors, bool user)
    {
        var outcome = await pending.Post.ConfigureAwait(false);
        foreach (var (old, mapped) in outcome.Ids)
        {
            _ids[old] = mapped;
        }

        foreach (var (line, status, scimType, detail) in outcome.Rejections)
        {
            await RejectAsync(errors, line, status, scimType, detail).ConfigureAwait(false);
        }

        if (user)
        {
            UsersCreated += outcome.Created;
        }
        else
        {
            GroupsCreated += outcome.Created;
        }

        return pending.Count;
    }

    // The items through /Bulk, in as many requests as the target's limits need: how many were
    // created, their new ids, what was refused. A group whose members alone pass the payload limit
    // is created with the members that fit; the rest are added by PATCH once it exists.
    private async Task<Outcome> PostAsync(string path, List<Item> items, CancellationToken cancel)
    {
        var outcome = new Outcome();
        if (items.Count == 0)
        {
            return outcome;
        }

        await ReadLimitsAsync(cancel).ConfigureAwait(false);
        // Room for the request's envelope around the operations, and a margin for the encoding.
        int budget = _maxPayloadBytes - 1024;
        var request = new List<(Item Item, JsonObject Operation)>();
        int requestBytes = 0;
        var later = new List<(Item Group, JsonArray Members)>();
        foreach (var item in items)
        {
            var data = (JsonObject)item.Resource.DeepClone();
            data.Remove("id");
            data.Remove("meta");
            data.Remove("groups");
            var operation = new JsonObject { ["method"] = "POST", ["path"] = path, ["bulkId"] = "line" + item.Line, ["data"] = data };
            int bytes = Utf8Length(operation) + 1;
            if (bytes > budget && data["members"] is JsonArray members && members.Count > 1)
            {
                // Members move to the later PATCHes until the rest fits (or one is left).
                var rest = new JsonArray();
                while (bytes > budget && members.Count > 1)
                {
                    // Each split takes members from before the ones already moved.
                    var moved = SplitMembers(members, bytes - budget + 64);
                    for (int m = moved.Count - 1; m >= 0; m--)
                    {
                        rest.Insert(0, moved[m]);
                    }

                    bytes = Utf8Length(operation) + 1;
                }

                later.Add((item, rest));
            }

            if (bytes > budget)
            {
                outcome.Rejections.Add((item.Line, 413, "tooLarge", $"The resource ({bytes:N0} bytes) does not fit in one /Bulk request of the target (maxPayloadSize {_maxPayloadBytes:N0}); it was not imported."));
                continue;
            }

            if (request.Count > 0 && (requestBytes + bytes > budget || request.Count == _maxOperations))
            {
                await SendBulkAsync(request, outcome, cancel).ConfigureAwait(false);
                request.Clear();
                requestBytes = 0;
            }

            request.Add((item, operation));
            requestBytes += bytes;
        }

        if (request.Count > 0)
        {
            await SendBulkAsync(request, outcome, cancel).ConfigureAwait(false);
        }

        foreach (var (group, members) in later)
        {
            if (outcome.NewIds.TryGetValue(group.Line, out var groupId))
            {
                var failure = await AddMembersAsync(groupId, members, cancel).ConfigureAwait(false);
                if (failure is { } refused)
                {
                    outcome.Rejections.Add((group.Line, refused.Status, refused.ScimType, "The group was created, but adding its remaining members failed: " + refused.Detail));
                }
            }
        }

        return outcome;
    }

    // Takes members off the end of the array (leaving one) until about `bytes` of their JSON were
    // removed; returns them, in order and detached.
    private static List<JsonNode?> SplitMembers(JsonArray members, int bytes)
    {
        var removed = new List<JsonNode?>();
        int size = 0;
        while (members.Count > 1 && size < bytes)
        {
            var last = members[^1];
            members.RemoveAt(members.Count - 1);
            size += (last is null ? 4 : Utf8Length(last)) + 1;
            removed.Add(last);
        }

        removed.Reverse();
        return removed;
    }

    // PATCH add of members (RFC 7644 §3.5.2.1), in requests under MemberPatchBytes and the payload
    // limit; the first refusal stops it and is returned.
    private async Task<(int Status, string? ScimType, string? Detail)?> AddMembersAsync(string groupId, JsonArray members, CancellationToken cancel)
    {
        int budget = Math.Min(MemberPatchBytes, _maxPayloadBytes) - 1024;
        var chunk = new JsonArray();
        int bytes = 0;
        for (int i = 0; i < members.Count; i++)
        {
            var member = members[i]?.DeepClone();
            int size = (member is null ? 4 : Utf8Length(member)) + 1;
            if (chunk.Count > 0 && bytes + size > budget)
            {
                if (await PatchAddAsync(groupId, chunk, cancel).ConfigureAwait(false) is { } failure)
                {
                    return failure;
                }

                chunk = new JsonArray();
                bytes = 0;
            }

            chunk.Add(member);
            bytes += size;
        }

        return chunk.Count > 0 ? await PatchAddAsync(groupId, chunk, cancel).ConfigureAwait(false) : null;
    }

    private async Task<(int Status, string? ScimType, string? Detail)?> PatchAddAsync(string groupId, JsonArray members, CancellationToken cancel)
    {
        var patch = new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
            ["Operations"] = new JsonArray(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = members }),
        };
        using var request = new HttpRequestMessage(HttpMethod.Patch, "Groups/" + Uri.EscapeDataString(groupId)) { Content = ScimJson(patch) };
        using var response = await target.Scim.SendAsync(request, cancel).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return null;
        }

        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false));
        return ((int)response.StatusCode, (string?)error?["scimType"], (string?)error?["detail"]);
    }

    // RFC 7643 §5: what the target takes in one /Bulk request (its advertised limits).
    private async Task ReadLimitsAsync(CancellationToken cancel)
    {
        if (_maxPayloadBytes > 0)
        {
            return;
        }

        using var response = await target.Scim.GetAsync("ServiceProviderConfig", cancel).ConfigureAwait(false);
        await ScimFastTool.EnsureSuccessAsync(response, cancel).ConfigureAwait(false);
        var bulk = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false))?["bulk"];
        _maxPayloadBytes = (int?)bulk?["maxPayloadSize"] is > 4096 and var payload ? payload : 1 << 20;
        _maxOperations = Math.Min(batch, (int?)bulk?["maxOperations"] is > 0 and var operations ? operations : 1000);
    }

    private static int Utf8Length(JsonNode node) => Encoding.UTF8.GetByteCount(node.ToJsonString());

    // One /Bulk request; its results go into the outcome (matched by bulkId, not by position: an
    // operation may have no result).
    private async Task SendBulkAsync(List<(Item Item, JsonObject Operation)> request, Outcome outcome, CancellationToken cancel)
    {
        // Each operation joins one request only (the list is cleared after it): no copy needed.
        var operations = new JsonArray();
        foreach (var (_, operation) in request)
        {
            operations.Add(operation);
        }

        var body = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
        using var content = ScimJson(body);
        using var response = await target.Scim.PostAsync("Bulk", content, cancel).ConfigureAwait(false);
        await ScimFastTool.EnsureSuccessAsync(response, cancel).ConfigureAwait(false);
        var results = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false))!["Operations"]!.AsArray();
        var byBulkId = request.ToDictionary(r => "line" + r.Item.Line, r => r.Item, StringComparer.Ordinal);
        var answered = new HashSet<long>();
        foreach (var result in results)
        {
            if (result is null || (string?)result["bulkId"] is not { } bulkId || !byBulkId.TryGetValue(bulkId, out var item))
            {
                continue;
            }

            answered.Add(item.Line);
            int status = int.TryParse((string?)result["status"], out int parsed) ? parsed : 0;
            if (status == 201 && (string?)result["location"] is { } location)
            {
                outcome.Created++;
                string newId = Uri.UnescapeDataString(location[(location.LastIndexOf('/') + 1)..]);
                outcome.NewIds[item.Line] = newId;
                if (item.OldId is not null)
                {
                    outcome.Ids.Add((item.OldId, newId));
                }
            }
            else
            {
                outcome.Rejections.Add((item.Line, status, (string?)result["response"]?["scimType"], (string?)result["response"]?["detail"]));
            }
        }

        foreach (var (item, _) in request)
        {
            if (!answered.Contains(item.Line))
            {
                outcome.Rejections.Add((item.Line, 0, null, "The server gave no result for this line."));
            }
        }
    }

    private sealed class Outcome
    {
        public int Created;
        public readonly List<(string Old, string New)> Ids = [];
        public readonly Dictionary<long, string> NewIds = [];
        public readonly List<(long Line, int Status, string? ScimType, string? Detail)> Rejections = [];
    }

    private static StringContent ScimJson(JsonNode body)
    {
        var content = new StringContent(body.ToJsonString(), Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/scim+json");
        return content;
    }

    private async Task RejectAsync(StreamWriter errors, long line, int status, string? scimType, string? detail)
    {
        Rejected++;
        await errors.WriteLineAsync(new JsonObject { ["line"] = line, ["status"] = status, ["scimType"] = scimType, ["detail"] = detail }.ToJsonString()).ConfigureAwait(false);
    }

    private sealed record Item(long Line, string? OldId, JsonObject Resource);
}
