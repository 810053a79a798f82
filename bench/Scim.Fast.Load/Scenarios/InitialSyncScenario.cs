using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json;

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
                _created[(int)sequence] = IdOf(created.Body);
            }

            return ReadScenario.Check(context, created.Status == 201, created.Status);
        }

        long first = sequence * Batch;
        var buffer = BulkBody.Rent();
        try
        {
            using (var writer = new Utf8JsonWriter(buffer))
            {
                BulkBody.Start(writer);
                for (long i = first; i < first + Batch; i++)
                {
                    BulkBody.StartPost(writer, "/Users", "u" + i);
                    Seed.WriteUser(writer, UserName(i), "sx-" + run + "-" + i);
                    BulkBody.EndPost(writer);
                }

                BulkBody.End(writer);
            }

            var reply = await context.SendUtf8Async("POST /Bulk (users)", HttpMethod.Post, "/Bulk", buffer.WrittenMemory, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (reply.Status != 200)
            {
                return ReadScenario.Check(context, false, reply.Status);
            }

            if (context.BaselineMode)
            {
                return true;
            }

            using var document = JsonDocument.Parse(reply.Body);
            var results = document.RootElement.GetProperty("Operations");
            bool ok = results.GetArrayLength() == Batch;
            int k = 0;
            foreach (var result in results.EnumerateArray())
            {
                if (result.TryGetProperty("status", out var status) && status.ValueEquals("201"))
                {
                    string location = result.GetProperty("location").GetString()!;
                    _created[(int)(first + k)] = location[(location.LastIndexOf('/') + 1)..];
                }
                else
                {
                    ok = false;
                }

                k++;
            }

            return ReadScenario.Check(context, ok, 200);
        }
        finally
        {
            BulkBody.Return(buffer);
        }
    }

    /// <summary>The "id" of a created resource's response.</summary>
    public static string IdOf(byte[] body)
    {
        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("id").GetString()!;
    }
}

/// <summary>
/// A /Bulk request body (RFC 7644 §3.7) written straight to UTF-8 into a pooled buffer: a sync's
/// bodies are a megabyte each, and the load client shares the machine's cores with the server.
/// </summary>
internal static class BulkBody
{
    private static readonly ConcurrentBag<ArrayBufferWriter<byte>> s_buffers = [];

    public static ArrayBufferWriter<byte> Rent() => s_buffers.TryTake(out var buffer) ? buffer : new ArrayBufferWriter<byte>(1 << 20);

    public static void Return(ArrayBufferWriter<byte> buffer)
    {
        buffer.ResetWrittenCount();
        s_buffers.Add(buffer);
    }

    public static void Start(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteStartArray("schemas");
        writer.WriteStringValue("urn:ietf:params:scim:api:messages:2.0:BulkRequest");
        writer.WriteEndArray();
        writer.WriteStartArray("Operations");
    }

    /// <summary>Opens a POST operation; its data follows.</summary>
    public static void StartPost(Utf8JsonWriter writer, string path, string bulkId)
    {
        writer.WriteStartObject();
        writer.WriteString("method", "POST");
        writer.WriteString("path", path);
        writer.WriteString("bulkId", bulkId);
        writer.WritePropertyName("data");
    }

    public static void EndPost(Utf8JsonWriter writer) => writer.WriteEndObject();

    public static void End(Utf8JsonWriter writer)
    {
        writer.WriteEndArray();
        writer.WriteEndObject();
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
        var random = new Random((int)sequence);
        var buffer = BulkBody.Rent();
        try
        {
            using (var writer = new Utf8JsonWriter(buffer))
            {
                BulkBody.Start(writer);
                for (int g = 0; g < groupsPerRequest; g++)
                {
                    long index = sequence * groupsPerRequest + g;
                    BulkBody.StartPost(writer, "/Groups", "g" + index);
                    writer.WriteStartObject();
                    writer.WriteStartArray("schemas");
                    writer.WriteStringValue("urn:ietf:params:scim:schemas:core:2.0:Group");
                    writer.WriteEndArray();
                    writer.WriteString("displayName", $"sync-{run}-group-{index:D6}");
                    writer.WriteString("externalId", $"gx-{run}-{index}");
                    writer.WriteStartArray("members");
                    int start = random.Next(Math.Max(1, userIds.Length - members));
                    for (int m = 0; m < members; m++)
                    {
                        writer.WriteStartObject();
                        writer.WriteString("value", userIds[start + m]);
                        writer.WriteEndObject();
                    }

                    writer.WriteEndArray();
                    writer.WriteEndObject();
                    BulkBody.EndPost(writer);
                }

                BulkBody.End(writer);
            }

            var reply = await context.SendUtf8Async("POST /Bulk (groups)", HttpMethod.Post, "/Bulk", buffer.WrittenMemory, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (reply.Status != 200 || context.BaselineMode)
            {
                return ReadScenario.Check(context, reply.Status == 200, reply.Status);
            }

            using var document = JsonDocument.Parse(reply.Body);
            var results = document.RootElement.GetProperty("Operations");
            bool ok = results.GetArrayLength() == groupsPerRequest;
            foreach (var result in results.EnumerateArray())
            {
                ok &= result.TryGetProperty("status", out var status) && status.ValueEquals("201");
            }

            return ReadScenario.Check(context, ok, 200);
        }
        finally
        {
            BulkBody.Return(buffer);
        }
    }
}
