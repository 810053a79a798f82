using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace Scim.Fast.Server.Tests.Events;

/// <summary>A long poll of 30 s (the most a client waits here), so a stop that waits it out shows.</summary>
public sealed class LongPollFixture : ScimServerFixture
{
    protected override IEnumerable<string> ExtraArguments => ["--Scim:Events:MaxPollWaitSeconds=30", "--Scim:Limits:RequestsPerSecondPerToken=0"];
}

/// <summary>
/// A graceful stop while clients wait on the event endpoints: Kestrel waits for requests in flight
/// before the store's last checkpoint, so an event stream (which never ends by itself) held the
/// whole stop until the host gave up on it (32 s here), and a long poll until its deadline.
/// </summary>
public sealed class EventsShutdownTests : IAsyncLifetime
{
    private const string PollStream = "{\"delivery\":{\"method\":\"urn:ietf:rfc:8936\"},\"events_requested\":[\"urn:ietf:params:scim:event:prov:create:notice\"]}";

    private readonly LongPollFixture _server = new();

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    [Fact]
    public async Task AStopWithAnEventStreamAndALongPollOpen_EndsThemAndFinishesAtOnce()
    {
        var stream = (await _server.Client.Send(HttpMethod.Post, "/scim/v2/ssf/streams", PollStream, mediaType: "application/json")).Expect(HttpStatusCode.Created).Body!;
        string streamId = (string)stream["stream_id"]!;

        // Clients of their own: the fixture's are disposed by the stop.
        using var sseClient = _server.CreateClient(ScimServerFixture.Token);
        using var pollClient = _server.CreateClient(ScimServerFixture.Token);
        using var sse = await sseClient.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/scim/v2/ssf/sse/" + streamId), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, sse.StatusCode);
        var sseBody = await sse.Content.ReadAsStreamAsync();
        var sseRead = new StreamReader(sseBody).ReadToEndAsync();
        var poll = pollClient.PostAsync("/scim/v2/ssf/poll/" + streamId, new StringContent("{\"returnImmediately\":false,\"maxEvents\":10}", System.Text.Encoding.UTF8, "application/json"));
        await Task.Delay(500);
        Assert.False(poll.IsCompleted, "the long poll answered before the stop: the test did not test a waiting poll");
        Assert.False(sseRead.IsCompleted, "the event stream ended before the stop");

        var stopping = Stopwatch.StartNew();
        await _server.StopAsync();
        stopping.Stop();
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(8), $"the stop took {stopping.Elapsed.TotalSeconds:F1} s with an event stream and a long poll open");

        // Both ended as responses, not as broken connections: the stream's body closes (a client
        // resumes with Last-Event-ID), the poll answers with no SETs (the client polls again).
        string events = await sseRead.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.StartsWith(": scim-fast events", events, StringComparison.Ordinal);
        using var polled = await poll.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.OK, polled.StatusCode);
        var answer = JsonNode.Parse(await polled.Content.ReadAsStringAsync())!;
        Assert.Empty(answer["sets"]!.AsObject());
    }
}
