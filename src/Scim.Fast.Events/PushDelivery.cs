using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

using Microsoft.Extensions.Logging;

namespace Scim.Fast.Events;

/// <summary>
/// Push delivery of one stream (RFC 8935): each SET is POSTed as <c>application/secevent+jwt</c>;
/// any 2xx is delivered. Up to <see cref="EventOptions.PushConcurrency"/> SETs are in flight, but
/// never two of one subject: each subject's events arrive in the stream's order (issue 15: "strictly
/// ordered per subject while one failing subject does not block the others").
/// <para>
/// Failures are of two kinds. Receiver-wide ones (no connection, timeout, 401/403/408/429/502/503/504,
/// a 400 other than <c>invalid_request</c>) pause the whole stream with exponential backoff and
/// jitter, never sooner than Retry-After, then probe with one SET before opening up again. Others
/// (a 500 or 4xx for one SET) park that subject alone: its SETs wait behind its failing one, with
/// their own backoff, while the cursor moves past them; the parked positions are written with the
/// cursor so a restart still delivers them. Eight subject failures in a row with no success count
/// as receiver-wide. A 400 <c>invalid_request</c> settles that SET (the receiver will never take
/// it); 410 Gone disables the stream. The cursor is written after deliveries (at least once: a
/// crash resends what followed the last write, with the same jti).
/// </para>
/// </summary>
public sealed partial class PushDelivery : IAsyncDisposable
{
    private const int EscalateAfter = 8;
    private static readonly MediaTypeHeaderValue s_setMediaType = new("application/secevent+jwt");

    private readonly StreamRegistry _registry;
    private readonly EventStream _stream;
    private readonly ILogger _logger;
    private readonly HttpClient _client;
    private readonly Version _version;
    private readonly HttpVersionPolicy _versionPolicy;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _signalGate = new();
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;

    // Owned by the delivery loop (one thread at a time); completions arrive through _done.
    private readonly Queue<Item> _window = new();
    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private readonly Queue<Lane> _retryFirst = new();
    private readonly Queue<Lane> _ready = new();
    private readonly List<Lane> _waiting = [];
    private readonly HashSet<string> _queuedControls = new(StringComparer.Ordinal);
    private readonly HashSet<Task> _running = [];
    private readonly ConcurrentQueue<(Item Item, Outcome Outcome, int Generation)> _done = new();
    private readonly List<OutgoingSet> _batch = new(256);
    private int _generation = -1;

    // Bumped by every Restart: completions of sends started before it (another generation, or
    // before this host lost and took back the lease) are only counted, never acted on.
    private int _epoch;
    private volatile bool _holding;
    private bool _abandoned;
    private long _readTo;
    private int _inFlight;
    private long _streamNotBefore;
    private int _streamFailures;
    private int _subjectFailuresInARow;
    private bool _probe;
    private bool _gone;

    public PushDelivery(StreamRegistry registry, EventStream stream, ILogger logger)
    {
        _registry = registry;
        _stream = stream;
        _logger = logger;
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AllowAutoRedirect = false,
            MaxConnectionsPerServer = Math.Max(1, registry.Options.PushConcurrency),
            ConnectCallback = registry.Options.AllowPrivatePushTargets ? null : ConnectPublicOnlyAsync,

            // A receiver that allows fewer concurrent HTTP/2 streams than PushConcurrency gets a
            // second connection instead of a queue.
            EnableMultipleHttp2Connections = true,
        };
        if (registry.TrustedPushCertificates is { } trusted)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = TrustAlso(trusted);
        }

        _client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(registry.Options.PushTimeoutSeconds) };
        // Checked at start (ScimServerOptions.Validate); an unknown name negotiates.
        (_version, _versionPolicy) = registry.Options.PushRequestVersion() ?? (HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower);
    }

    /// <summary>SETs delivered (2xx) since start.</summary>
    public long Delivered { get; private set; }

    /// <summary>Whether this host holds the stream's push lease (delivers it) at the moment.</summary>
    internal bool Holding => _holding;

    public void Start() => _loop = Task.Run(LoopAsync);

    /// <summary>The stream was deleted (by another host): stop without writing its position back.</summary>
    internal void Abandon() => _abandoned = true;

    public void Wake()
    {
        lock (_signalGate)
        {
            _signal.TrySetResult();
        }
    }

    private Task ArmSignal()
    {
        lock (_signalGate)
        {
            if (_signal.Task.IsCompleted)
            {
                _signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            return _signal.Task;
        }
    }

    private async Task LoopAsync()
    {
        long lastSave = Environment.TickCount64;
        long leaseDue = Environment.TickCount64;
        while (!_stop.IsCancellationRequested)
        {
            Task signal = ArmSignal();
            Task advanced = _registry.Feed.Advanced;
            try
            {
                // Hosts sharing a store: one delivers a stream at a time, under a lease renewed
                // every third of its term. A host that takes it over starts from the positions the
                // one before reached (at least once: what that one had in flight goes again).
                if (Environment.TickCount64 >= leaseDue)
                {
                    bool held = await _registry.HoldPushLeaseAsync(_stream).ConfigureAwait(false);
                    if (!held)
                    {
                        _holding = false;
                        await Task.Delay(StreamRegistry.PushLeaseMilliseconds / 3, _stop.Token).ConfigureAwait(false);
                        continue;
                    }

                    if (!_holding)
                    {
                        // Taken (or first held): start over from the positions in the store, where
                        // another host may have left them.
                        _holding = true;
                        _registry.TakePositionsFromStore(_stream);
                        _generation = -1;
                    }

                    leaseDue = Environment.TickCount64 + (StreamRegistry.PushLeaseMilliseconds / 3);
                }

                int generation;
                string status;
                lock (_stream.Gate)
                {
                    generation = _stream.Generation;
                    status = _stream.Status;
                }

                if (generation != _generation)
                {
                    Restart(generation);
                }

                Drain();
                if (_gone)
                {
                    _gone = false;
                    _logger.LogWarning("Push receiver of stream {Stream} answered 410 Gone: stream disabled", _stream.Id);
                    await _registry.SetStatusAsync(_stream, StreamStatus.Disabled, "the receiver answered 410 Gone", _stop.Token).ConfigureAwait(false);
                    continue;
                }

                long now = Environment.TickCount64;
                bool enabled = status == StreamStatus.Enabled;
                if (enabled)
                {
                    Fill();
                    Dispatch(now);
                }

                AdvanceCursor();
                bool idle = _inFlight == 0 && _ready.Count == 0 && _retryFirst.Count == 0;
                if (now - lastSave >= 200 || idle)
                {
                    await _registry.SaveCursorAsync(_stream, _stop.Token).ConfigureAwait(false);
                    lastSave = Environment.TickCount64;
                }

                // Wait for a completion, a wake (control SET, status change), new feed entries when
                // there is room to read them, or the next retry that falls due.
                long wait = 5_000;
                if (enabled)
                {
                    wait = Math.Min(wait, NextDue(now) - now);
                }

                if (wait > 0)
                {
                    Task feed = enabled && _window.Count < _registry.Options.PushWindow ? advanced : Task.Delay(Timeout.Infinite, _stop.Token);
                    await Task.WhenAny(signal, feed, Task.Delay(TimeSpan.FromMilliseconds(wait), _stop.Token)).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Push delivery of stream {Stream} failed; retrying", _stream.Id);
                await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }
        }

        // The last position, written only by the host that delivers the stream (a host without the
        // lease would write its stale parked set over the holder's) and not for a deleted stream.
        if (!_holding || _abandoned)
        {
            return;
        }

        try
        {
            await Task.WhenAll(_running).ConfigureAwait(false);
            Drain();
            AdvanceCursor();
            await _registry.SaveCursorAsync(_stream, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Saving the position of stream {Stream} at stop failed; its receiver may see some SETs again", _stream.Id);
        }
    }

    // Start over from the stream's cursor: at start, and after the stream was re-enabled. Parked
    // positions (behind the cursor, undelivered) go first, each in its subject's lane.
    private void Restart(int generation)
    {
        _generation = generation;
        _epoch++;
        _window.Clear();
        _lanes.Clear();
        _retryFirst.Clear();
        _ready.Clear();
        _waiting.Clear();
        _queuedControls.Clear();
        _streamNotBefore = 0;
        _streamFailures = 0;
        _subjectFailuresInARow = 0;
        _probe = false;
        long[] parked;
        lock (_stream.Gate)
        {
            _readTo = _stream.Cursor;
            parked = [.. _stream.Parked];
        }

        foreach (long position in parked)
        {
            if (_registry.ReadAt(_stream, position) is { } set)
            {
                var item = Enqueue(set);
                item.BehindCursor = true;
            }
            else
            {
                _logger.LogWarning("Parked SET at {Position} of stream {Stream} is no longer in the change feed (retention); dropped", SetFactory.FormatPosition(position), _stream.Id);
                lock (_stream.Gate)
                {
                    _stream.Parked.Remove(position);
                    _stream.PositionsVersion++;
                }
            }
        }
    }

    private Item Enqueue(OutgoingSet set)
    {
        if (!_lanes.TryGetValue(set.Subject, out var lane))
        {
            lane = new Lane(set.Subject);
            _lanes.Add(set.Subject, lane);
        }

        var item = new Item(set, lane);
        lane.Items.Enqueue(item);
        Schedule(lane, Environment.TickCount64);
        return item;
    }

    // A lane whose head can go: into the ready queue, or the waiting list when its retry is not due.
    private void Schedule(Lane lane, long now)
    {
        if (lane.InFlight || lane.Scheduled || lane.Items.Count == 0)
        {
            return;
        }

        lane.Scheduled = true;
        if (lane.NotBefore > now)
        {
            _waiting.Add(lane);
        }
        else
        {
            _ready.Enqueue(lane);
        }
    }

    // Control SETs (verification, stream-updated) first, then the feed after what was read, up to the window.
    private void Fill()
    {
        lock (_stream.Gate)
        {
            foreach (var (jti, set) in _stream.Controls)
            {
                if (_queuedControls.Add(jti))
                {
                    _ = Enqueue(new OutgoingSet(-1, jti, "", set));
                }
            }
        }

        int windowSize = Math.Max(1, _registry.Options.PushWindow);
        while (_window.Count < windowSize)
        {
            _batch.Clear();
            // Unsigned: each SET is signed by the task that sends it, so the signatures (most of a
            // SET's cost) run on every core instead of on this loop, which one stream has one of.
            var read = _registry.Read(_stream, _readTo, Math.Min(256, windowSize - _window.Count), skipAcked: false, withControls: false, _batch, sign: false);
            foreach (var set in _batch)
            {
                _window.Enqueue(Enqueue(set));
                _readTo = Math.Max(_readTo, set.Position);
            }

            _readTo = Math.Max(_readTo, read.ScannedTo);
            if (!read.MoreAvailable || _batch.Count == 0)
            {
                break;
            }
        }
    }

    private void Dispatch(long now)
    {
        if (now < _streamNotBefore)
        {
            return;
        }

        for (int i = _waiting.Count - 1; i >= 0; i--)
        {
            var lane = _waiting[i];
            if (lane.NotBefore <= now)
            {
                _waiting.RemoveAt(i);
                lane.Scheduled = false;
                Schedule(lane, now);
            }
        }

        int limit = _probe ? 1 : Math.Max(1, _registry.Options.PushConcurrency);
        while (_inFlight < limit && (_retryFirst.Count > 0 || _ready.Count > 0))
        {
            var lane = _retryFirst.Count > 0 ? _retryFirst.Dequeue() : _ready.Dequeue();
            lane.Scheduled = false;
            if (lane.InFlight || lane.Items.Count == 0)
            {
                continue;
            }

            var item = lane.Items.Peek();
            lane.InFlight = true;
            _inFlight++;
            var task = RunAsync(item, _epoch);
            item.Task = task;
            _running.Add(task);
        }
    }

    private async Task RunAsync(Item item, int epoch)
    {
        Outcome outcome;
        try
        {
            // Off the delivery loop first (Dispatch calls this, and an async method runs on its
            // caller's thread until it awaits): the signature is most of a SET's cost, and on the
            // loop every SET of the stream would be signed one after another on one thread.
            await Task.Yield();

            // Signed once: a retry sends the same JWS (same jti, RFC 8935 §2; same iat).
            item.Jws ??= _registry.Sets.Sign(item.Set, _stream.Algorithm);
            outcome = await SendAsync(item.Set, item.Jws).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            outcome = new Outcome(TimeSpan.Zero, false, true, e.Message);
        }

        _done.Enqueue((item, outcome, epoch));
        Wake();
    }

    // Completed sends: settle, park the subject, or pause the stream.
    private void Drain()
    {
        long now = Environment.TickCount64;
        while (_done.TryDequeue(out var done))
        {
            var (item, outcome, epoch) = done;
            _inFlight--;
            if (item.Task is { } task)
            {
                _running.Remove(task);
            }

            if (epoch != _epoch)
            {
                continue;
            }

            var lane = item.Lane;
            lane.InFlight = false;
            if (outcome.Gone)
            {
                _gone = true;
                continue;
            }

            if (outcome.Retry is { } retryAfter)
            {
                if (_stop.IsCancellationRequested)
                {
                    continue;
                }

                if (outcome.ReceiverWide || ++_subjectFailuresInARow >= EscalateAfter)
                {
                    // The receiver as a whole is failing: pause, then one SET (this one) as a probe.
                    if (now >= _streamNotBefore)
                    {
                        _streamFailures++;
                        var wait = Backoff(_streamFailures, retryAfter);
                        _streamNotBefore = now + (long)wait.TotalMilliseconds;
                        _logger.LogWarning("Push of {Jti} to stream {Stream} failed ({Reason}); stream retries in {Delay} (attempt {Attempt})", item.Set.Jti, _stream.Id, outcome.Reason, wait, _streamFailures);
                    }

                    _subjectFailuresInARow = 0;
                    _probe = true;
                    lane.Scheduled = true;
                    _retryFirst.Enqueue(lane);
                }
                else
                {
                    lane.Failures++;
                    lane.Parked = true;
                    var wait = Backoff(lane.Failures, retryAfter);
                    lane.NotBefore = now + (long)wait.TotalMilliseconds;
                    _logger.LogWarning("Push of {Jti} to stream {Stream} failed ({Reason}); subject {Subject} parked, retry {Attempt} in {Delay}", item.Set.Jti, _stream.Id, outcome.Reason, lane.Subject, lane.Failures, wait);
                    Schedule(lane, now);
                }

                continue;
            }

            _subjectFailuresInARow = 0;
            _streamFailures = 0;
            _probe = false;
            lane.Failures = 0;
            lane.Parked = false;
            lane.NotBefore = 0;
            lane.Items.Dequeue();
            item.Settled = true;
            Delivered++;
            EventMetrics.RecordDelivery("push", item.Set.CommittedAt);
            if (item.Set.Position < 0)
            {
                _queuedControls.Remove(item.Set.Jti);
                _registry.InBackground(_registry.SettleControlsAsync(_stream, [item.Set.Jti]), _stream);
            }
            else if (item.BehindCursor)
            {
                lock (_stream.Gate)
                {
                    _stream.Parked.Remove(item.Set.Position);
                    _stream.PositionsVersion++;
                }
            }

            if (lane.Items.Count > 0)
            {
                Schedule(lane, now);
            }
            else if (!lane.Scheduled)
            {
                _lanes.Remove(lane.Subject);
            }
        }
    }

    // The cursor moves over delivered SETs and over those of parked subjects (recorded as parked),
    // up to the first SET still on its way.
    private void AdvanceCursor()
    {
        lock (_stream.Gate)
        {
            while (_window.Count > 0)
            {
                var head = _window.Peek();
                if (head.Settled)
                {
                    _window.Dequeue();
                }
                else if (head.Lane.Parked && _stream.Parked.Count < _registry.Options.MaxParkedPerStream)
                {
                    _window.Dequeue();
                    head.BehindCursor = true;
                    _stream.Parked.Add(head.Set.Position);
                    _stream.PositionsVersion++;
                }
                else
                {
                    break;
                }
            }

            long cursor = _window.Count > 0 ? _window.Peek().Set.Position - 1 : _readTo;
            if (cursor > _stream.Cursor)
            {
                _stream.Cursor = cursor;
            }
        }
    }

    // When the next paused stream or parked subject may be retried.
    private long NextDue(long now)
    {
        long due = long.MaxValue;
        if (_streamNotBefore > now)
        {
            due = _streamNotBefore;
        }
        else
        {
            foreach (var lane in _waiting)
            {
                due = Math.Min(due, lane.NotBefore);
            }
        }

        return due == long.MaxValue ? now + 5_000 : Math.Max(due, now + 1);
    }

    private sealed class Item(OutgoingSet set, Lane lane)
    {
        public OutgoingSet Set { get; } = set;

        public Lane Lane { get; } = lane;

        /// <summary>The compact JWS, once signed (the window holds SETs unsigned until they go).</summary>
        public string? Jws { get; set; }

        public bool Settled { get; set; }

        /// <summary>The cursor passed it while its subject was parked: it is in the stream's parked set.</summary>
        public bool BehindCursor { get; set; }

        public Task? Task { get; set; }
    }

    /// <summary>One subject's SETs in order; only its head may be in flight.</summary>
    private sealed class Lane(string subject)
    {
        public string Subject { get; } = subject;

        public Queue<Item> Items { get; } = new();

        public bool InFlight { get; set; }

        /// <summary>In the ready, retry-first or waiting queue.</summary>
        public bool Scheduled { get; set; }

        /// <summary>Its head failed on its own: the cursor may move past this subject's SETs.</summary>
        public bool Parked { get; set; }

        public int Failures { get; set; }

        public long NotBefore { get; set; }
    }

    private readonly record struct Outcome(TimeSpan? Retry, bool Gone, bool ReceiverWide, string Reason);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        _client.Dispose();
        _stop.Dispose();
    }
}
