using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Timeouts;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// RequestDeadlines arms a request's deadline only when the request first asks for its token; these
/// check what that must not change (RequestTimeoutTests covers the same over HTTP): the deadline
/// counts from the request's start, the client's abort still reaches the handler, a deadline that
/// passed gives the 503 answer, and Disable switches it off.
/// </summary>
public sealed class RequestDeadlineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(300);

    private static (DefaultHttpContext Context, CancellationTokenSource Client) NewContext()
    {
        var client = new CancellationTokenSource();
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature { RequestAborted = client.Token });
        return (context, client);
    }

    private static RequestDeadlines Deadlines() => new(Timeout, context => context.Response.WriteAsync("timed out"));

    [Fact]
    public async Task ATokenAskedForLate_IsAlreadyCancelled_WhenTheDeadlineHasPassedSinceTheStart()
    {
        var (context, _) = NewContext();
        bool cancelledWhenAsked = false;
        await Deadlines().InvokeAsync(context, async c =>
        {
            await Task.Delay(Timeout * 2);
            cancelledWhenAsked = c.RequestAborted.IsCancellationRequested;
            c.RequestAborted.ThrowIfCancellationRequested();
        });

        Assert.True(cancelledWhenAsked);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
    }

    [Fact]
    public async Task ATokenAskedForEarly_FiresAtTheDeadline_AndTheAnswerIs503()
    {
        var (context, _) = NewContext();
        var started = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan cancelledAfter = default;
        await Deadlines().InvokeAsync(context, async c =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(30), c.RequestAborted);
            }
            finally
            {
                cancelledAfter = started.Elapsed;
            }
        });

        Assert.InRange(cancelledAfter, Timeout - TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(10));
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
    }

    [Fact]
    public async Task TheClientHangingUp_CancelsTheToken_AndIsNotAnsweredAsATimeout()
    {
        var (context, client) = NewContext();
        var handling = Deadlines().InvokeAsync(context, async c =>
        {
            var token = c.RequestAborted;
            client.Cancel();
            Assert.True(token.IsCancellationRequested);
            await Task.Yield();
            token.ThrowIfCancellationRequested();
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => handling);
        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
    }

    [Fact]
    public async Task ADeadlineAfterTheResponseStarted_IsRethrown_NotAnsweredWith503()
    {
        // Headers already sent: a 503 cannot replace them, so the cancellation goes on to Kestrel,
        // which cuts the connection (the client sees an incomplete response, not a wrong one).
        var (context, _) = NewContext();
        context.Features.Set<IHttpResponseFeature>(new StartedResponse());
        bool wroteTimeoutAnswer = false;
        var deadlines = new RequestDeadlines(Timeout, _ =>
        {
            wroteTimeoutAnswer = true;
            return Task.CompletedTask;
        });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => deadlines.InvokeAsync(context, async c =>
        {
            c.Response.StatusCode = StatusCodes.Status200OK;
            await Task.Delay(TimeSpan.FromSeconds(30), c.RequestAborted);
        }));

        Assert.False(wroteTimeoutAnswer);
        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
    }

    [Fact]
    public async Task ADeadlineAfterPartOfTheBodyWasWritten_CutsTheConnection_AndWritesNoErrorAfterIt()
    {
        // The body in the pipe, not flushed: the response has not started, but a 503's error would
        // follow those bytes as one body (a BulkResponse with an error after it, seen over HTTP).
        var client = new RecordingLifetime();
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpRequestLifetimeFeature>(client);
        bool wroteTimeoutAnswer = false;
        var deadlines = new RequestDeadlines(Timeout, _ =>
        {
            wroteTimeoutAnswer = true;
            return Task.CompletedTask;
        });

        await deadlines.InvokeAsync(context, async c =>
        {
            c.Response.StatusCode = StatusCodes.Status200OK;
            var span = c.Response.BodyWriter.GetSpan(100);
            span[..100].Fill((byte)'x');
            c.Response.BodyWriter.Advance(100);
            await Task.Delay(Timeout * 2);
            c.RequestAborted.ThrowIfCancellationRequested();
        });

        Assert.False(context.Response.HasStarted);
        Assert.False(wroteTimeoutAnswer);
        Assert.True(client.Aborted);
    }

    private sealed class RecordingLifetime : IHttpRequestLifetimeFeature
    {
        public CancellationToken RequestAborted { get; set; }

        public bool Aborted { get; private set; }

        public void Abort() => Aborted = true;
    }

    private sealed class StartedResponse : HttpResponseFeature
    {
        public override bool HasStarted => true;
    }

    [Fact]
    public async Task DisableTimeout_KeepsTheTokenAlivePastTheDeadline_BeforeOrAfterItWasAskedFor()
    {
        foreach (bool askFirst in new[] { false, true })
        {
            var (context, _) = NewContext();
            bool cancelled = true;
            await Deadlines().InvokeAsync(context, async c =>
            {
                var early = askFirst ? c.RequestAborted : CancellationToken.None;
                RequestDeadlines.Disable(c);
                await Task.Delay(Timeout * 2);
                cancelled = c.RequestAborted.IsCancellationRequested || early.IsCancellationRequested;
            });

            Assert.False(cancelled, askFirst ? "asked before DisableTimeout" : "asked after DisableTimeout");
            Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        }
    }

    [Fact]
    public async Task AfterTheRequest_TheClientsLifetimeFeatureIsBack()
    {
        var (context, _) = NewContext();
        var clients = context.Features.Get<IHttpRequestLifetimeFeature>();
        IHttpRequestLifetimeFeature? during = null;
        await Deadlines().InvokeAsync(context, c =>
        {
            during = c.Features.Get<IHttpRequestLifetimeFeature>();
            return Task.CompletedTask;
        });

        Assert.IsAssignableFrom<IHttpRequestTimeoutFeature>(during);
        Assert.Same(clients, context.Features.Get<IHttpRequestLifetimeFeature>());
    }
}
