using System.Diagnostics;

namespace Scim.Fast.Load.Scenarios;

/// <summary>
/// Writes beside a measured read run: PATCH /Users/{id} (replace displayName) of seeded users at a
/// fixed rate, sent when due (an open loop, at most 256 in flight), recorded as their own request
/// kind. Failures count as the run's errors.
/// </summary>
internal static class BackgroundWrites
{
    private const string Kind = "PATCH /Users/{id} (background)";

    /// <summary>Writes until cancelled; returns the writes acknowledged.</summary>
    public static async Task<long> RunAsync(LoadContext context, IReadOnlyList<string> ids, double rate, CancellationToken cancellationToken)
    {
        long acknowledged = 0;
        var inFlight = new SemaphoreSlim(256);
        var sent = new List<Task>();
        long started = Stopwatch.GetTimestamp();
        double ticksPerWrite = Stopwatch.Frequency / rate;
        try
        {
            for (long i = 0; !cancellationToken.IsCancellationRequested; i++)
            {
                long due = started + (long)(i * ticksPerWrite);
                long wait = due - Stopwatch.GetTimestamp();
                if (wait > Stopwatch.Frequency / 1000)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), cancellationToken).ConfigureAwait(false);
                }

                await inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
                string id = ids[(int)((ulong)(i * 40503L) % (ulong)ids.Count)];
                sent.Add(WriteAsync(id, i));
                if (sent.Count >= 4096)
                {
                    sent.RemoveAll(task => task.IsCompleted);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        await Task.WhenAll(sent).ConfigureAwait(false);
        return Interlocked.Read(ref acknowledged);

        async Task WriteAsync(string id, long sequence)
        {
            try
            {
                string patch = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"Load written " + sequence + "\"}]}";
                var reply = await context.SendAsync(Kind, HttpMethod.Patch, "/Users/" + id, patch).ConfigureAwait(false);
                if (ReadScenario.Check(context, reply.Status is 200 or 204, reply.Status))
                {
                    Interlocked.Increment(ref acknowledged);
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                context.CountError("background write: " + e.GetType().Name);
            }
            finally
            {
                inFlight.Release();
            }
        }
    }
}
