using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

using Scim.Fast.Storage.Resources;

using Xunit.Abstractions;

namespace Scim.Fast.Chaos.Tests;

/// <summary>
/// Rounds of concurrent clients against the real server process: ordinary writes, clients that hang
/// up at random points (mid-headers, mid-body, right after the body, while the answer streams),
/// requests that outlast the deadline, hostile bodies; then SIGKILL. After each round the store on
/// disk must recover and pass Verify(), every acknowledged write must be there, nothing half-applied,
/// and no request may have got a 500 or stopped the store.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private static readonly int s_seconds = int.TryParse(Environment.GetEnvironmentVariable("SCIM_CHAOS_SECONDS"), out int s) ? s : 12;
    private static readonly int s_rounds = int.TryParse(Environment.GetEnvironmentVariable("SCIM_CHAOS_ROUNDS"), out int r) ? r : 4;

    private const string UserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";

    private sealed class Counters
    {
        public int Requests;
        public int Acknowledged;
        public int Disconnects;
        public int Hostile;
        public int Deadlines;
        public int Kills;
        public readonly ConcurrentQueue<string> ServerErrors = new();
    }

    /// <summary>What a user should look like, from what the server acknowledged (and what it may have done).</summary>
    private sealed class KnownUser(string id, string userName, string externalId)
    {
        public string Id { get; } = id;

        public string UserName { get; } = userName;

        public string ExternalId { get; } = externalId;

        public string? DisplayName { get; set; }

        /// <summary>displayName values sent without an answer: any may have landed, in any order.</summary>
        public HashSet<string> MaybeDisplayNames { get; } = [];

        public bool Deleted { get; set; }

        public bool MaybeDeleted { get; set; }

        public HashSet<string> Groups { get; } = [];
    }

    [Fact]
    public async Task ChaosRounds_NeverStopTheServer_LoseAnAcknowledgedWrite_OrHalfApplyOne()
    {
        string data = Path.Combine(Path.GetTempPath(), "scim-fast-chaos-" + Guid.NewGuid().ToString("N"));
        var users = new ConcurrentDictionary<string, KnownUser>();
        var pendingNames = new ConcurrentBag<string>();
        var counters = new Counters();
        var failures = new List<string>();
        try
        {
            for (int round = 0; round < s_rounds; round++)
            {
                using (var server = await ChaosServer.StartAsync(data))
                {
                    using var client = server.Client();
                    failures.AddRange(await VerifyAsync(client, users, pendingNames));
                    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(s_seconds));
                    int currentRound = round;
                    var workers = Enumerable.Range(0, 6).Select(w => Task.Run(() => WorkerAsync(server, currentRound, w, users, pendingNames, counters, stop.Token))).ToArray();
                    await Task.WhenAll(workers);

                    // The store still takes writes after all that.
                    var after = await Send(client, HttpMethod.Post, "/scim/v2/Users", NewUser($"after-{round}", "x"), counters);
                    if (after.Status != HttpStatusCode.Created)
                    {
                        failures.Add($"round {round}: a write after the round got {(int)after.Status}: {after.Text}");
                    }

                    foreach (var line in server.Failures)
                    {
                        counters.ServerErrors.Enqueue(line);
                    }

                    if (Environment.GetEnvironmentVariable("SCIM_CHAOS_GRACEFUL") == "1")
                    {
                        await server.StopGracefullyAsync();
                    }
                    else
                    {
                        server.Kill();
                        counters.Kills++;
                    }
                }

                // Recovery from the files a SIGKILL left, and the store's own consistency check.
                await using (var store = ResourceStore.Open(Path.Combine(data, "store")))
                {
                    foreach (var problem in store.Verify())
                    {
                        string note = "";
                        var match = System.Text.RegularExpressions.Regex.Match(problem, "resource [0-9A-F]+/([0-9a-f-]{36})");
                        if (match.Success)
                        {
                            string id = match.Groups[1].Value;
                            var record = store.Get(new TenantId(0), 1, id);
                            note = users.TryGetValue(id, out var known)
                                ? $" [acknowledged; deleted={known.Deleted} maybeDeleted={known.MaybeDeleted} groups={known.Groups.Count} stored version={record?.Version}]"
                                : $" [not acknowledged; stored version={record?.Version}]";
                        }

                        failures.Add($"round {round}: Verify: {problem}{note}");
                    }
                }
            }

            using (var server = await ChaosServer.StartAsync(data))
            {
                using var client = server.Client();
                failures.AddRange(await VerifyAsync(client, users, pendingNames));
            }
        }
        finally
        {
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
            }
        }

        output.WriteLine($"rounds {s_rounds} x {s_seconds} s, requests {counters.Requests}, acknowledged {counters.Acknowledged}, disconnects {counters.Disconnects}, " +
            $"deadlines {counters.Deadlines}, hostile bodies {counters.Hostile}, kills {counters.Kills}, users acknowledged {users.Count}, unanswered creates {pendingNames.Count}");
        foreach (var line in counters.ServerErrors.Take(400))
        {
            output.WriteLine("server: " + line);
        }

        foreach (var failure in failures.Take(30))
        {
            output.WriteLine("failure: " + failure);
        }

        Assert.True(counters.Acknowledged > 100, "too few acknowledged writes: the rounds tested nothing");
        Assert.True(counters.Disconnects > 10, "too few disconnects");
        Assert.Empty(failures);
        Assert.Empty(counters.ServerErrors);
    }

    private static async Task WorkerAsync(ChaosServer server, int round, int worker, ConcurrentDictionary<string, KnownUser> users, ConcurrentBag<string> pendingNames, Counters counters, CancellationToken stop)
    {
        var random = new Random(HashCode.Combine(round, worker, Environment.TickCount));
        using var client = server.Client(TimeSpan.FromSeconds(20));
        var mine = new List<KnownUser>();
        string groupId = "";
        var group = await Send(client, HttpMethod.Post, "/scim/v2/Groups", new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Group"), ["displayName"] = $"chaos-{round}-{worker}-{Guid.NewGuid():N}" }, counters);
        if (group.Status == HttpStatusCode.Created)
        {
            groupId = (string)group.Body!["id"]!;
        }

        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            string userName = $"chaos-{round}-{worker}-{i}-{random.Next():x}";
            KnownUser? target = mine.Count == 0 ? null : mine[random.Next(mine.Count)];
            int action = random.Next(100);
            string skip = Environment.GetEnvironmentVariable("SCIM_CHAOS_SKIP") ?? "";
            if ((skip.Contains('d') && action is >= 40 and < 47) || (skip.Contains('p') && action is >= 25 and < 40) || (skip.Contains('m') && action is >= 47 and < 60)
                || (skip.Contains('b') && action is >= 60 and < 68) || (skip.Contains('c') && action is >= 68 and < 84) || (skip.Contains('h') && action >= 84))
            {
                continue;
            }

            try
            {
                if (action < 25 || target is null)
                {
                    // A create; a quarter of them with the client hanging up at a random moment.
                    bool hangUp = random.Next(4) == 0;
                    using var cut = new CancellationTokenSource(hangUp ? TimeSpan.FromMilliseconds(random.Next(0, 15)) : Timeout.InfiniteTimeSpan);
                    var reply = await Send(client, HttpMethod.Post, "/scim/v2/Users", NewUser(userName, "ext-" + userName), counters, cut.Token);
                    if (reply.Status == HttpStatusCode.Created)
                    {
                        var known = new KnownUser((string)reply.Body!["id"]!, userName, "ext-" + userName);
                        users[known.Id] = known;
                        mine.Add(known);
                    }
                    else
                    {
                        pendingNames.Add(userName);
                    }
                }
                else if (action < 40)
                {
                    string value = $"dn-{round}-{worker}-{i}";
                    bool hangUp = random.Next(4) == 0;
                    using var cut = new CancellationTokenSource(hangUp ? TimeSpan.FromMilliseconds(random.Next(0, 10)) : Timeout.InfiniteTimeSpan);
                    var patch = new JsonObject
                    {
                        ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
                        ["Operations"] = new JsonArray(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = value }),
                    };
                    var reply = await Send(client, HttpMethod.Patch, "/scim/v2/Users/" + target.Id, patch, counters, cut.Token);
                    lock (target)
                    {
                        if (reply.Status == HttpStatusCode.OK)
                        {
                            target.DisplayName = value;
                        }
                        else
                        {
                            target.MaybeDisplayNames.Add(value);
                        }
                    }
                }
                else if (action < 47)
                {
                    bool hangUp = random.Next(3) == 0;
                    using var cut = new CancellationTokenSource(hangUp ? TimeSpan.FromMilliseconds(random.Next(0, 10)) : Timeout.InfiniteTimeSpan);
                    mine.Remove(target);
                    var reply = await Send(client, HttpMethod.Delete, "/scim/v2/Users/" + target.Id, null, counters, cut.Token);
                    if (reply.Status == HttpStatusCode.NoContent)
                    {
                        target.Deleted = true;
                    }
                    else
                    {
                        target.MaybeDeleted = true;
                    }
                }
                else if (action < 60 && groupId.Length > 0)
                {
                    var patch = new JsonObject
                    {
                        ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
                        ["Operations"] = new JsonArray(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonArray(new JsonObject { ["value"] = target.Id }) }),
                    };
                    bool hangUp = random.Next(4) == 0;
                    using var cut = new CancellationTokenSource(hangUp ? TimeSpan.FromMilliseconds(random.Next(0, 10)) : Timeout.InfiniteTimeSpan);
                    var reply = await Send(client, HttpMethod.Patch, "/scim/v2/Groups/" + groupId, patch, counters, cut.Token);
                    if (reply.Status == HttpStatusCode.NoContent)
                    {
                        lock (target)
                        {
                            target.Groups.Add(groupId);
                        }
                    }
                }
                else if (action < 68)
                {
                    // A /Bulk of creates, answered or cut at a random point of its life.
                    var names = Enumerable.Range(0, 40).Select(k => $"{userName}-b{k}").ToList();
                    var operations = new JsonArray();
                    foreach (var name in names)
                    {
                        operations.Add(new JsonObject { ["method"] = "POST", ["path"] = "/Users", ["bulkId"] = name, ["data"] = NewUser(name, "ext-" + name) });
                    }

                    var bulk = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:BulkRequest"), ["Operations"] = operations };
                    if (random.Next(2) == 0)
                    {
                        foreach (var name in names)
                        {
                            pendingNames.Add(name);
                        }

                        await CutAsync(server, "POST", "/scim/v2/Bulk", bulk.ToJsonString(), random, counters);
                    }
                    else
                    {
                        var reply = await Send(client, HttpMethod.Post, "/scim/v2/Bulk", bulk, counters);
                        var results = reply.Status == HttpStatusCode.OK ? reply.Body!["Operations"]!.AsArray() : [];
                        for (int k = 0; k < names.Count; k++)
                        {
                            if (k < results.Count && (string?)results[k]!["status"] == "201")
                            {
                                string id = ((string)results[k]!["location"]!).Split('/')[^1];
                                var known = new KnownUser(id, names[k], "ext-" + names[k]);
                                users[id] = known;
                                mine.Add(known);
                            }
                            else
                            {
                                pendingNames.Add(names[k]);
                            }
                        }
                    }
                }
                else if (action < 78)
                {
                    pendingNames.Add(userName);
                    await CutAsync(server, "POST", "/scim/v2/Users", NewUser(userName, "ext-" + userName).ToJsonString(), random, counters);
                }
                else if (action < 82)
                {
                    // An answer that streams (a page of users), cut while it is being read.
                    await CutWhileReadingAsync(server, "/scim/v2/Users?count=200", counters);
                }
                else if (action < 84)
                {
                    await SlowBodyAsync(server, counters);
                }
                else
                {
                    await HostileAsync(client, random, target, counters);
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or SocketException or OperationCanceledException)
            {
                // A connection the server reset after a limit, or our own hang-up: the outcome is unknown.
            }
        }
    }

    // Checks every acknowledged write, and that unanswered creates are whole or absent.
    private static async Task<List<string>> VerifyAsync(HttpClient client, ConcurrentDictionary<string, KnownUser> users, ConcurrentBag<string> pendingNames)
    {
        var failures = new List<string>();
        foreach (var user in users.Values)
        {
            var reply = await Get(client, "/scim/v2/Users/" + user.Id);
            if (user.Deleted)
            {
                if (reply.Status != HttpStatusCode.NotFound)
                {
                    failures.Add($"user {user.Id} was deleted (204) but GET gives {(int)reply.Status}");
                }

                continue;
            }

            if (reply.Status == HttpStatusCode.NotFound && user.MaybeDeleted)
            {
                continue;
            }

            if (reply.Status != HttpStatusCode.OK)
            {
                failures.Add($"acknowledged user {user.Id} ({user.UserName}): GET gives {(int)reply.Status}");
                continue;
            }

            string? displayName = (string?)reply.Body!["displayName"];
            if (displayName != user.DisplayName && !(displayName is not null && user.MaybeDisplayNames.Contains(displayName)))
            {
                failures.Add($"user {user.Id}: displayName '{displayName}', acknowledged '{user.DisplayName}'");
            }

            var byName = await Get(client, $"/scim/v2/Users?filter=userName eq \"{user.UserName}\"");
            if (byName.Status != HttpStatusCode.OK || (int)byName.Body!["totalResults"]! != 1 || (string?)byName.Body["Resources"]![0]!["id"] != user.Id)
            {
                failures.Add($"user {user.Id}: not found exactly by its userName index: {byName.Text}");
            }

            var byExternal = await Get(client, $"/scim/v2/Users?filter=externalId eq \"{user.ExternalId}\"");
            if (byExternal.Status != HttpStatusCode.OK || (int)byExternal.Body!["totalResults"]! != 1)
            {
                failures.Add($"user {user.Id}: not found by its externalId index: {byExternal.Text}");
            }

            foreach (var group in user.Groups)
            {
                var inGroup = await Get(client, $"/scim/v2/Groups?filter=id eq \"{group}\" and members.value eq \"{user.Id}\"&excludedAttributes=members");
                if (!user.MaybeDeleted && (inGroup.Status != HttpStatusCode.OK || (int)inGroup.Body!["totalResults"]! != 1))
                {
                    failures.Add($"user {user.Id}: its acknowledged membership of {group} is gone");
                }
            }
        }

        // Creates never answered: there whole (by its index and by id) or not at all.
        foreach (var name in pendingNames.Distinct())
        {
            var byName = await Get(client, $"/scim/v2/Users?filter=userName eq \"{name}\"");
            if (byName.Status != HttpStatusCode.OK || (int)byName.Body!["totalResults"]! > 1)
            {
                failures.Add($"unanswered create {name}: {byName.Text}");
                continue;
            }

            if ((int)byName.Body["totalResults"]! == 1)
            {
                string id = (string)byName.Body["Resources"]![0]!["id"]!;
                if ((await Get(client, "/scim/v2/Users/" + id)).Status != HttpStatusCode.OK && !users.ContainsKey(id))
                {
                    failures.Add($"unanswered create {name}: indexed as {id} but not readable");
                }
            }
        }

        return failures;
    }

    private static JsonObject NewUser(string userName, string externalId) =>
        new() { ["schemas"] = new JsonArray(UserSchema), ["userName"] = userName, ["externalId"] = externalId, ["emails"] = new JsonArray(new JsonObject { ["value"] = userName + "@example.com", ["type"] = "work" }) };

    private sealed record Reply(HttpStatusCode Status, JsonNode? Body, string Text);

    private static Task<Reply> Get(HttpClient client, string path) => Send(client, HttpMethod.Get, path, null, null);

    private static async Task<Reply> Send(HttpClient client, HttpMethod method, string path, JsonNode? body, Counters? counters, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/scim+json");
        }

        return await SendAsync(client, request, counters, path, cancellationToken);
    }

    private static async Task<Reply> SendAsync(HttpClient client, HttpRequestMessage request, Counters? counters, string description, CancellationToken cancellationToken)
    {
        if (counters is not null)
        {
            Interlocked.Increment(ref counters.Requests);
        }

        try
        {
            using var response = await client.SendAsync(request, cancellationToken);
            string text = await response.Content.ReadAsStringAsync(cancellationToken);
            int status = (int)response.StatusCode;
            if (counters is not null)
            {
                if (status >= 500 && status != 503)
                {
                    counters.ServerErrors.Enqueue($"{status} for {request.Method} {description}: {text}");
                }

                if (status is >= 200 and < 300)
                {
                    Interlocked.Increment(ref counters.Acknowledged);
                }
            }

            JsonNode? parsed = null;
            try
            {
                parsed = text.Length == 0 ? null : JsonNode.Parse(text);
            }
            catch (System.Text.Json.JsonException)
            {
            }

            return new Reply(response.StatusCode, parsed, text);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (counters is not null)
            {
                Interlocked.Increment(ref counters.Disconnects);
            }

            return new Reply(0, null, "(hung up)");
        }
    }

    // A whole request written on a raw socket, then a reset (RST) at one of four moments.
    private static async Task CutAsync(ChaosServer server, string method, string path, string body, Random random, Counters counters)
    {
        byte[] content = Encoding.UTF8.GetBytes(body);
        byte[] head = Encoding.ASCII.GetBytes($"{method} {path} HTTP/1.1\r\nHost: {server.Address.Authority}\r\nAuthorization: Bearer {ChaosServer.Token}\r\nContent-Type: application/scim+json\r\nContent-Length: {content.Length}\r\n\r\n");
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Address.Host, server.Address.Port);
        switch (random.Next(3))
        {
            case 0:
                // Mid-headers.
                await socket.SendAsync(head.AsMemory(0, random.Next(1, head.Length)));
                break;
            case 1:
                // Mid-body.
                await socket.SendAsync(head);
                await socket.SendAsync(content.AsMemory(0, random.Next(0, content.Length)));
                break;
            default:
                // Right after the body, or a little later, while the server works on it.
                await socket.SendAsync(head);
                await socket.SendAsync(content);
                await Task.Delay(random.Next(0, 20));
                break;
        }

        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
        Interlocked.Increment(ref counters.Disconnects);
    }

    private static async Task CutWhileReadingAsync(ChaosServer server, string path, Counters counters)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Address.Host, server.Address.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {server.Address.Authority}\r\nAuthorization: Bearer {ChaosServer.Token}\r\n\r\n"));
        var buffer = new byte[512];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        _ = await socket.ReceiveAsync(buffer, timeout.Token);
        socket.LingerState = new LingerOption(true, 0);
        socket.Close();
        Interlocked.Increment(ref counters.Disconnects);
    }

    // A body that trickles past the request deadline (3 s): the answer is 503, never a 500 or a hang.
    private static async Task SlowBodyAsync(ChaosServer server, Counters counters)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(server.Address.Host, server.Address.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ChaosServer.Token}\r\nContent-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n"));
        var buffer = new byte[4096];
        var reading = stream.ReadAsync(buffer).AsTask();
        var started = DateTime.UtcNow;
        while (!reading.IsCompleted && DateTime.UtcNow - started < TimeSpan.FromSeconds(10))
        {
            await stream.WriteAsync("{"u8.ToArray());
            await Task.WhenAny(reading, Task.Delay(200));
        }

        Interlocked.Increment(ref counters.Deadlines);
        if (reading.IsCompletedSuccessfully && reading.Result > 0)
        {
            string answer = Encoding.ASCII.GetString(buffer, 0, reading.Result);
            if (answer.StartsWith("HTTP/1.1 500", StringComparison.Ordinal))
            {
                counters.ServerErrors.Enqueue("500 for a body past the deadline: " + answer);
            }
        }
        else if (!reading.IsCompleted)
        {
            counters.ServerErrors.Enqueue("a body trickling past the deadline got no answer within 10 s");
        }
    }

    // Bodies no client should send: each must get a 4xx SCIM error (413 and 400 mostly).
    private static async Task HostileAsync(HttpClient client, Random random, KnownUser? target, Counters counters)
    {
        Interlocked.Increment(ref counters.Hostile);
        string patchPath = "/scim/v2/Users/" + (target?.Id ?? "nobody");
        (string Path, HttpMethod Method, byte[] Body) request = random.Next(9) switch
        {
            0 => ("/scim/v2/Users", HttpMethod.Post, Encoding.UTF8.GetBytes("{\"schemas\":[\"" + UserSchema + "\"],\"userName\":\"trunc")),
            1 => ("/scim/v2/Users", HttpMethod.Post, Encoding.UTF8.GetBytes(new string('[', 5000) + new string(']', 5000))),
            2 => ("/scim/v2/Users", HttpMethod.Post, [.. "{\"schemas\":[\""u8, .. Encoding.UTF8.GetBytes(UserSchema), .. "\"],\"userName\":\"a"u8, 0xC3, 0x28, .. "\"}"u8]),
            3 => ("/scim/v2/Users", HttpMethod.Post, Encoding.UTF8.GetBytes("{\"schemas\":[\"" + UserSchema + "\"],\"userName\":123,\"emails\":\"x\"}")),
            4 => ("/scim/v2/Users", HttpMethod.Post, Encoding.UTF8.GetBytes("{\"schemas\":[\"" + UserSchema + "\"],\"userName\":\"" + new string('x', 2_000_000) + "\"}")),
            5 => (patchPath, HttpMethod.Patch, Encoding.UTF8.GetBytes("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":["
                + string.Join(',', Enumerable.Repeat("{\"op\":\"replace\",\"path\":\"title\",\"value\":\"t\"}", 1500)) + "]}")),
            6 => ("/scim/v2/Bulk", HttpMethod.Post, Encoding.UTF8.GetBytes("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"],\"Operations\":[{\"method\":\"POST\",\"path\":\"/Groups\",\"bulkId\":\"g\",\"data\":{\"displayName\":\"x\",\"members\":["
                + string.Join(',', Enumerable.Repeat("{\"value\":\"bulkId:g\"}", 12_000)) + "]}}]}")),
            7 => ("/scim/v2/Users?filter=" + Uri.EscapeDataString(new string('(', 200) + "userName eq \"a\"" + new string(')', 200)), HttpMethod.Get, []),
            _ => (patchPath, HttpMethod.Patch, Encoding.UTF8.GetBytes("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":\"emails[type eq \\\"work\\\"\",\"value\":\"x\\ud800\"}]}")),
        };
        using var message = new HttpRequestMessage(request.Method, request.Path);
        if (request.Body.Length > 0)
        {
            message.Content = new ByteArrayContent(request.Body);
            message.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/scim+json");
        }

        var reply = await SendAsync(client, message, counters, "hostile " + request.Path[..Math.Min(request.Path.Length, 40)], default);
        if ((int)reply.Status is < 400 or >= 500)
        {
            counters.ServerErrors.Enqueue($"hostile request to {request.Path[..Math.Min(request.Path.Length, 60)]} got {(int)reply.Status}: {reply.Text[..Math.Min(reply.Text.Length, 200)]}");
        }
    }
}
