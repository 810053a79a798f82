using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// Seed data shared by the scenarios: users named load-0000000@example.com … with externalId
/// ext-0000000 …, created through /Bulk (idempotent: re-running returns the existing users), and
/// their ids read back by cursor paging.
/// </summary>
internal static class Seed
{
    public const string Prefix = "load-";

    public static string UserName(int i) => UserName(Prefix, i);

    public static string UserName(string prefix, int i) => $"{prefix}{i:D7}@example.com";

    public static string ExternalId(int i) => $"ext-{i:D7}";

    public static string UserJson(string userName, string externalId, string givenName = "Load")
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteUser(writer, userName, externalId, givenName);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// The user <see cref="UserJson"/> gives, written straight to UTF-8: the load client shares the
    /// machine's two cores with the server, and building each user as a JSON DOM and then a string
    /// took a quarter of the machine during an initial sync.
    /// </summary>
    public static void WriteUser(Utf8JsonWriter writer, string userName, string externalId, string givenName = "Load")
    {
        writer.WriteStartObject();
        writer.WriteStartArray("schemas");
        writer.WriteStringValue("urn:ietf:params:scim:schemas:core:2.0:User");
        writer.WriteEndArray();
        writer.WriteString("userName", userName);
        writer.WriteString("externalId", externalId);
        writer.WriteBoolean("active", true);
        writer.WriteString("displayName", givenName + " " + userName);
        writer.WriteStartObject("name");
        writer.WriteString("givenName", givenName);
        writer.WriteString("familyName", userName);
        writer.WriteEndObject();
        writer.WriteStartArray("emails");
        writer.WriteStartObject();
        writer.WriteString("type", "work");
        writer.WriteBoolean("primary", true);
        writer.WriteString("value", userName);
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteStartObject("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
        writer.WriteString("department", "Load");
        writer.WriteString("employeeNumber", externalId);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>Makes sure users 0..count-1 exist; returns their ids in index order.</summary>
    public static async Task<string[]> UsersAsync(LoadContext context, int count, CancellationToken cancellationToken)
    {
        var last = await context.SendAsync("seed", HttpMethod.Get, $"/Users?filter=userName+eq+%22{Uri.EscapeDataString(UserName(count - 1))}%22&attributes=id", cancellationToken: cancellationToken).ConfigureAwait(false);
        if ((int?)last.Json?["totalResults"] != 1)
        {
            Console.Error.WriteLine($"seeding {count:N0} users through /Bulk …");
            int next = 0;
            var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                int start;
                while ((start = Interlocked.Add(ref next, 1000) - 1000) < count)
                {
                    var operations = new StringBuilder();
                    for (int i = start; i < Math.Min(count, start + 1000); i++)
                    {
                        operations.Append(operations.Length == 0 ? "" : ",")
                            .Append("{\"method\":\"POST\",\"path\":\"/Users\",\"bulkId\":\"u").Append(i).Append("\",\"data\":")
                            .Append(UserJson(UserName(i), ExternalId(i))).Append('}');
                    }

                    var reply = await context.SendAsync("seed", HttpMethod.Post, "/Bulk",
                        "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[" + operations + "]}", cancellationToken: cancellationToken).ConfigureAwait(false);
                    if (reply.Status != 200)
                    {
                        throw new InvalidOperationException($"seeding failed: {reply.Status} {Encoding.UTF8.GetString(reply.Body)}");
                    }
                }
            }, cancellationToken));
            await Task.WhenAll(workers).ConfigureAwait(false);
        }

        return await IdsAsync(context, Prefix, count, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads (userName → id) of every user whose userName starts with the prefix, by cursor.</summary>
    public static async Task<string[]> IdsAsync(LoadContext context, string prefix, int count, CancellationToken cancellationToken)
    {
        var ids = new string[count];
        string cursor = "";
        do
        {
            var page = await context.SendAsync("seed", HttpMethod.Get, $"/Users?count=1000&attributes=userName&cursor={Uri.EscapeDataString(cursor)}", cancellationToken: cancellationToken).ConfigureAwait(false);
            var json = page.Json!;
            foreach (var resource in json["Resources"]!.AsArray())
            {
                string userName = (string)resource!["userName"]!;
                if (userName.StartsWith(prefix, StringComparison.Ordinal) && userName.Length == prefix.Length + 19
                    && int.TryParse(userName.AsSpan(prefix.Length, 7), out int index) && index < count)
                {
                    ids[index] = (string)resource["id"]!;
                }
            }

            cursor = (string?)json["nextCursor"] ?? "";
        }
        while (cursor.Length > 0);

        for (int i = 0; i < count; i++)
        {
            if (ids[i] is null)
            {
                throw new InvalidOperationException($"user {UserName(i)} is missing after seeding");
            }
        }

        return ids;
    }
}
