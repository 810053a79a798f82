using Microsoft.Extensions.Logging;

using Scim.Fast.Storage.Feed;

namespace Scim.Fast.Events;

// Reading a stream's SETs from the change feed, and moving its cursor over what was acknowledged.
public sealed partial class StreamRegistry
{
    /// <summary>
    /// The stream's SETs after <paramref name="after"/> in order, at most <paramref name="max"/>,
    /// control SETs first when <paramref name="withControls"/>; with <paramref name="skipAcked"/>,
    /// those acknowledged out of order are left out. A position that fell out of the feed's retention
    /// resyncs the stream (stream-updated event, cursor to the oldest entry kept) and reads on.
    /// Without <paramref name="sign"/> the feed's SETs come with their claims unsigned
    /// (<see cref="SetFactory.Sign"/>), for a reader that signs each where it sends it.
    /// </summary>
    public StreamRead Read(EventStream stream, long after, int max, bool skipAcked, bool withControls, List<OutgoingSet> into, bool sign = true)
    {
        long readAfter = ReadAfter(after);
        if (readAfter + 1 < Feed.Bounds(stream.Tenant).First)
        {
            // Past retention: the resync notice goes out ahead of the events after the gap.
            readAfter = Resync(stream);
            after = SetFactory.Position(readAfter, 3);
        }

        if (withControls)
        {
            lock (stream.Gate)
            {
                foreach (var (jti, set) in stream.Controls)
                {
                    if (into.Count < max)
                    {
                        into.Add(new OutgoingSet(-1, jti, "", set));
                    }
                }
            }
        }

        var entries = new List<ChangeEntry>(64);
        var kinds = new List<(int K, string Uri)>(4);
        var delivered = stream.Delivered;
        long scannedTo = after;
        int scanned = 0;
        while (scanned < ScanEntries)
        {
            entries.Clear();
            if (Feed.Read(stream.Tenant, readAfter, 64, entries) == FeedReadStatus.Expired)
            {
                readAfter = Resync(stream);
                scannedTo = SetFactory.Position(readAfter, 3);
                continue;
            }

            if (entries.Count == 0)
            {
                return new StreamRead(false, scannedTo);
            }

            foreach (var entry in entries)
            {
                scanned++;
                SetFactory.EventsOf(entry, delivered, kinds);
                foreach (var (k, uri) in kinds)
                {
                    long position = SetFactory.Position(entry.Sequence, k);
                    if (position <= after || (skipAcked && IsAcked(stream, position)))
                    {
                        continue;
                    }

                    if (into.Count >= max)
                    {
                        return new StreamRead(true, scannedTo);
                    }

                    into.Add(sign ? Sets.Create(stream, entry, k, uri) : Sets.CreateUnsigned(stream, entry, k, uri));
                }

                scannedTo = SetFactory.Position(entry.Sequence, 3);
                readAfter = entry.Sequence;
            }
        }

        return new StreamRead(true, scannedTo);
    }

    /// <summary>
    /// The SET at one position (a parked push delivery after a restart); null when its entry is past
    /// retention or the stream no longer asks for that event.
    /// </summary>
    public OutgoingSet? ReadAt(EventStream stream, long position)
    {
        long sequence = position / 4;
        var entries = new List<ChangeEntry>(1);
        if (Feed.Read(stream.Tenant, sequence - 1, 1, entries) != FeedReadStatus.Ok || entries.Count == 0 || entries[0].Sequence != sequence)
        {
            return null;
        }

        var kinds = new List<(int K, string Uri)>(4);
        SetFactory.EventsOf(entries[0], stream.Delivered, kinds);
        foreach (var (k, uri) in kinds)
        {
            if (SetFactory.Position(sequence, k) == position)
            {
                return Sets.Create(stream, entries[0], k, uri);
            }
        }

        return null;
    }

    // The feed sequence to read after so that nothing past the position is missed: the position's
    // own entry when some of its events (k < 3) may still follow.
    private static long ReadAfter(long position) => position % 4 == 3 ? position / 4 : Math.Max(0, (position / 4) - 1);

    private static bool IsAcked(EventStream stream, long position)
    {
        lock (stream.Gate)
        {
            return stream.AckedAhead.Contains(position);
        }
    }

    // The reader fell behind retention: say so (SSF stream-updated) and go on from what is kept.
    private long Resync(EventStream stream)
    {
        var (first, _) = Feed.Bounds(stream.Tenant);
        lock (stream.Gate)
        {
            stream.Cursor = Math.Max(stream.Cursor, SetFactory.Position(first - 1, 3));
            stream.AckedAhead.Clear();
            stream.PositionsVersion++;
        }

        _logger.LogWarning("Event stream {Stream} fell behind the change feed's retention; it resumes at sequence {First} and its receiver must resync", stream.Id, first);
        // Queued here at once (this read returns it); kept in the store in the background.
        InBackground(AddControlAsync(stream, EventUris.StreamUpdated, new Dictionary<string, string>
        {
            ["status"] = StreamStatus.Enabled,
            ["reason"] = "resync: events before sequence " + first + " are past the change feed's retention and were not delivered; read the resources again",
        }), stream);
        return first - 1;
    }

    /// <summary>
    /// RFC 8936 §2.4 acknowledgements (and setErrs, which also settle a SET): moves the cursor over
    /// every position acknowledged in order and persists it.
    /// </summary>
    public async Task AcknowledgeAsync(EventStream stream, IReadOnlyList<string> jtis, CancellationToken cancellationToken)
    {
        if (jtis.Count == 0)
        {
            return;
        }

        var controls = new List<string>();
        lock (stream.Gate)
        {
            foreach (string jti in jtis)
            {
                if (SetFactory.IsControlOf(stream.Id, jti))
                {
                    controls.Add(jti);
                    continue;
                }

                long position = SetFactory.PositionOf(stream.Id, jti);
                if (position > stream.Cursor && stream.AckedAhead.Count < MaxAckedAhead && stream.AckedAhead.Add(position))
                {
                    stream.PositionsVersion++;
                }
            }
        }

        if (controls.Count > 0)
        {
            await SettleControlsAsync(stream, controls, cancellationToken).ConfigureAwait(false);
        }

        Advance(stream);
        await SaveCursorAsync(stream, cancellationToken).ConfigureAwait(false);
    }

    // The cursor moves over positions in order while each is acknowledged (or has no event for the stream).
    private void Advance(EventStream stream)
    {
        var entries = new List<ChangeEntry>(64);
        var kinds = new List<(int K, string Uri)>(4);
        var delivered = stream.Delivered;
        lock (stream.Gate)
        {
            while (stream.AckedAhead.Count > 0)
            {
                entries.Clear();
                if (Feed.Read(stream.Tenant, ReadAfter(stream.Cursor), 64, entries) != FeedReadStatus.Ok || entries.Count == 0)
                {
                    return;
                }

                foreach (var entry in entries)
                {
                    SetFactory.EventsOf(entry, delivered, kinds);
                    foreach (var (k, _) in kinds)
                    {
                        long position = SetFactory.Position(entry.Sequence, k);
                        if (position <= stream.Cursor)
                        {
                            continue;
                        }

                        if (!stream.AckedAhead.Remove(position))
                        {
                            return;
                        }

                        stream.PositionsVersion++;

                        stream.Cursor = position;
                    }

                    stream.Cursor = Math.Max(stream.Cursor, SetFactory.Position(entry.Sequence, 3));
                }
            }
        }
    }

    /// <summary>After a read found nothing pending up to <paramref name="scannedTo"/>, the cursor may move there.</summary>
    public void SkipTo(EventStream stream, long scannedTo)
    {
        lock (stream.Gate)
        {
            if (scannedTo > stream.Cursor)
            {
                stream.Cursor = scannedTo;
                if (stream.AckedAhead.RemoveWhere(p => p <= scannedTo) > 0)
                {
                    stream.PositionsVersion++;
                }
            }
        }
    }
}
