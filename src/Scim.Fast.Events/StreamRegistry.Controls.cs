using System.Text;
using System.Text.Json.Nodes;

using Microsoft.Extensions.Logging;

namespace Scim.Fast.Events;

// A stream's own SETs (SSF 1.0 verification and stream-updated events) waiting for delivery ahead
// of its feed events. They are kept in the store, one state record per stream, so a restart still
// delivers them and, on a shared store, any host does: a verification asked through one host is
// polled through another (issue 16: no host-local state that matters).
public sealed partial class StreamRegistry
{
    // One change to a controls record at a time in this process. Between hosts a change reads the
    // record just before it writes it, so only two changes within those few milliseconds can lose
    // one (README, Known gaps).
    private readonly SemaphoreSlim _controlsGate = new(1, 1);

    /// <summary>Control SETs kept per stream, unacknowledged; past it the oldest are dropped.</summary>
    internal const int MaxControls = 64;

    /// <summary>Queues an SSF event of the stream itself ahead of its feed events, durably.</summary>
    public async Task AddControlAsync(EventStream stream, string uri, IReadOnlyDictionary<string, string> payload, CancellationToken cancellationToken = default)
    {
        var control = Sets.CreateControl(stream, uri, payload);
        lock (stream.Gate)
        {
            stream.Controls.Add(control);
        }

        await ChangeControlsAsync(stream, control, [], cancellationToken).ConfigureAwait(false);
        Wake(stream);
    }

    /// <summary>Control SETs delivered or acknowledged: dropped here and from the store.</summary>
    internal Task SettleControlsAsync(EventStream stream, IReadOnlyCollection<string> jtis, CancellationToken cancellationToken = default)
    {
        lock (stream.Gate)
        {
            stream.Controls.RemoveAll(c => jtis.Contains(c.Jti));
        }

        return ChangeControlsAsync(stream, null, jtis, cancellationToken);
    }

    // Started where the caller cannot wait (a resync found while reading, a push delivered):
    // a failure is logged; the SET stays queued in memory and goes out anyway.
    internal void InBackground(Task change, EventStream stream) =>
        change.ContinueWith(
            t => _logger.LogWarning(t.Exception, "Keeping the control events of stream {Stream} in the store failed", stream.Id),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    private async Task ChangeControlsAsync(EventStream stream, (string Jti, string Set)? added, IReadOnlyCollection<string> settled, CancellationToken cancellationToken)
    {
        await _controlsGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var stored = ReadControls(stream);
            if (added is { } control && !stored.Exists(c => c.Jti == control.Jti))
            {
                stored.Add(control);
            }

            // A receiver that asks for verification again and again without ever acknowledging
            // must not grow the record without end: the oldest go first.
            if (stored.Count > MaxControls)
            {
                stored.RemoveRange(0, stored.Count - MaxControls);
            }

            stored.RemoveAll(c => settled.Contains(c.Jti));
            await _store.PutStateAsync(stream.Tenant, ControlsKey(stream.Id), WriteControls(stored), cancellationToken).ConfigureAwait(false);
            TakeControls(stream, stored);
        }
        finally
        {
            _controlsGate.Release();
        }
    }

    // The store's list becomes this host's (other hosts' additions and settlements included).
    // True when it holds one this host did not know.
    private static bool TakeControls(EventStream stream, List<(string Jti, string Set)> stored)
    {
        lock (stream.Gate)
        {
            bool added = false;
            foreach (var control in stored)
            {
                added |= !stream.Controls.Exists(c => c.Jti == control.Jti);
            }

            stream.Controls.Clear();
            stream.Controls.AddRange(stored);
            return added;
        }
    }

    private List<(string Jti, string Set)> ReadControls(EventStream stream)
    {
        var controls = new List<(string, string)>();
        if (_store.ReadState(stream.Tenant, ControlsKey(stream.Id)) is { Length: > 0 } bytes)
        {
            foreach (var item in JsonNode.Parse(bytes)!.AsArray())
            {
                controls.Add(((string)item!["jti"]!, (string)item["set"]!));
            }
        }

        return controls;
    }

    private static byte[] WriteControls(List<(string Jti, string Set)> controls)
    {
        var array = new JsonArray();
        foreach (var (jti, set) in controls)
        {
            array.Add(new JsonObject { ["jti"] = jti, ["set"] = set });
        }

        return controls.Count == 0 ? [] : Encoding.UTF8.GetBytes(array.ToJsonString());
    }

    private static byte[] ControlsKey(string id) => Encoding.UTF8.GetBytes("ssf-ctl/" + id);
}
