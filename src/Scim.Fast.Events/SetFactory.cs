using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

using Scim.Fast.Storage.Feed;

namespace Scim.Fast.Events;

/// <summary>
/// A SET ready to deliver: its position in the stream, jti, event URI, compact JWS, and its subject
/// (the <c>sub_id</c> uri; empty for the stream's own control SETs), which push orders by, and when
/// its write committed (Unix ms; 0 for control SETs), for the delivery-lag metric. A SET read for
/// push carries its <see cref="Claims"/> unsigned (<see cref="Set"/> empty): it is signed by
/// <see cref="SetFactory.Sign"/> on the thread that sends it, not on the stream's one delivery loop.
/// </summary>
public readonly record struct OutgoingSet(long Position, string Jti, string EventUri, string Set, string Subject = "", long CommittedAt = 0, byte[]? Claims = null);

/// <summary>
/// Turns change-feed entries into the SCIM events a stream asked for (RFC 9967 §2.4) and signs each
/// as its own SET (RFC 8417; one event per SET, SSF §4.2.1). Deterministic per stream and entry,
/// except <c>iat</c>: a retransmission has the same jti and the same event.
/// </summary>
public sealed class SetFactory(SetSigner signer, IReadOnlyDictionary<byte, string> endpoints)
{
    // Claims are signed bytes, never embedded in HTML: quotes as \" rather than \u0022.
    private static readonly JsonWriterOptions s_writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The signing keys' public halves (the JWKS).</summary>
    public byte[] Jwks => signer.Jwks;

    /// <summary>The events of <paramref name="entry"/> for <paramref name="stream"/>: (k, URI) in position order.</summary>
    public static void EventsOf(ChangeEntry entry, List<string> delivered, List<(int K, string Uri)> into)
    {
        into.Clear();
        var (full, notice) = entry.Operation switch
        {
            ChangeOperation.Create => (EventUris.CreateFull, EventUris.CreateNotice),
            ChangeOperation.Replace => (EventUris.PutFull, EventUris.PutNotice),
            ChangeOperation.Patch => (EventUris.PatchFull, EventUris.PatchNotice),
            _ => (EventUris.Delete, (string?)null),
        };
        if (delivered.Contains(full))
        {
            into.Add((0, full));
        }

        if (notice is not null && delivered.Contains(notice))
        {
            into.Add((1, notice));
        }

        string? flip = entry.Active switch
        {
            ActiveChange.Activated => EventUris.Activate,
            ActiveChange.Deactivated => EventUris.Deactivate,
            _ => null,
        };
        if (flip is not null && delivered.Contains(flip))
        {
            into.Add((2, flip));
        }
    }

    public static long Position(long sequence, int k) => (sequence * 4) + k;

    public static string Jti(string streamId, long position) => streamId + "." + FormatPosition(position);

    /// <summary>A position as <c>sequence.k</c> (the tail of a jti, an SSE event id).</summary>
    public static string FormatPosition(long position) =>
        (position / 4).ToString(CultureInfo.InvariantCulture) + "." + (position % 4).ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses <c>sequence.k</c>; false for anything else.</summary>
    public static bool TryParsePosition(ReadOnlySpan<char> text, out long position)
    {
        position = -1;
        int dot = text.IndexOf('.');
        if (dot <= 0
            || !long.TryParse(text[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out long sequence)
            || !int.TryParse(text[(dot + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int k)
            || k > 3 || sequence > long.MaxValue / 8)
        {
            return false;
        }

        position = Position(sequence, k);
        return true;
    }

    /// <summary>The position a jti of this stream names, or -1 (another stream's, a control SET's, garbage).</summary>
    public static long PositionOf(string streamId, string jti) =>
        jti.Length > streamId.Length + 1 && jti.StartsWith(streamId, StringComparison.Ordinal) && jti[streamId.Length] == '.'
        && TryParsePosition(jti.AsSpan(streamId.Length + 1), out long position) ? position : -1;

    /// <summary>Signs one event of an entry for a stream.</summary>
    public OutgoingSet Create(EventStream stream, ChangeEntry entry, int k, string uri)
    {
        var buffer = new ArrayBufferWriter<byte>(512 + entry.Data.Length);
        var set = WriteClaims(buffer, stream, entry, k, uri);
        return set with { Set = signer.Sign(buffer.WrittenSpan, stream.Algorithm) };
    }

    /// <summary>One event of an entry for a stream, its claims not yet signed (<see cref="Sign"/>).</summary>
    public OutgoingSet CreateUnsigned(EventStream stream, ChangeEntry entry, int k, string uri)
    {
        var buffer = new ArrayBufferWriter<byte>(512 + entry.Data.Length);
        var set = WriteClaims(buffer, stream, entry, k, uri);
        return set with { Claims = buffer.WrittenSpan.ToArray() };
    }

    /// <summary>The compact JWS of a SET: signed now when it was read unsigned.</summary>
    public string Sign(OutgoingSet set, string algorithm) => set.Claims is { } claims ? signer.Sign(claims, algorithm) : set.Set;

    // The SET's claims (RFC 8417 §2.2, RFC 9967 §2), and the SET without its JWS.
    private OutgoingSet WriteClaims(ArrayBufferWriter<byte> buffer, EventStream stream, ChangeEntry entry, int k, string uri)
    {
        long position = Position(entry.Sequence, k);
        string jti = Jti(stream.Id, position);
        string subject = "/" + (endpoints.TryGetValue(entry.Type, out var endpoint) ? endpoint : "Resources") + "/" + entry.Id;
        using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("jti", jti);
            writer.WriteString("iss", stream.Issuer);
            writer.WriteNumber("iat", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            WriteAudience(writer, stream);
            if (entry.Transaction is not null)
            {
                writer.WriteString("txn", entry.Transaction);
            }

            writer.WriteNumber("toe", entry.Time / 1000);
            writer.WriteStartObject("sub_id");
            writer.WriteString("format", "scim");
            writer.WriteString("uri", subject);
            if (entry.ExternalId is not null)
            {
                writer.WriteString("externalId", entry.ExternalId);
            }

            writer.WriteEndObject();
            writer.WriteStartObject("events");
            writer.WriteStartObject(uri);
            if (uri is EventUris.CreateFull or EventUris.PutFull or EventUris.PatchFull && !entry.Data.IsEmpty)
            {
                writer.WritePropertyName("data");
                writer.WriteRawValue(entry.Data.Span, skipInputValidation: true);
            }
            else if (uri is EventUris.CreateNotice or EventUris.PutNotice or EventUris.PatchNotice)
            {
                writer.WriteStartArray("attributes");
                foreach (string attribute in ChangedAttributes(entry))
                {
                    writer.WriteStringValue(attribute);
                }

                writer.WriteEndArray();
            }

            // The resource's ETag after the write (RFC 7644 §3.14): receivers drop stale versions.
            writer.WriteString("version", "W/\"" + entry.Version.ToString(CultureInfo.InvariantCulture) + "\"");
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return new OutgoingSet(position, jti, uri, "", subject, entry.Time);
    }

    private const string ControlMark = ".c.";

    /// <summary>Whether a jti names one of the stream's own (control) SETs.</summary>
    public static bool IsControlOf(string streamId, string jti) =>
        jti.Length > streamId.Length + ControlMark.Length && jti.StartsWith(streamId, StringComparison.Ordinal)
        && jti.AsSpan(streamId.Length).StartsWith(ControlMark, StringComparison.Ordinal);

    /// <summary>An SSF event of the stream itself (verification, stream-updated), jti random.</summary>
    public (string Jti, string Set) CreateControl(EventStream stream, string uri, IReadOnlyDictionary<string, string> payload)
    {
        string jti = stream.Id + ControlMark + Guid.NewGuid().ToString("N");
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("jti", jti);
            writer.WriteString("iss", stream.Issuer);
            writer.WriteNumber("iat", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            WriteAudience(writer, stream);
            writer.WriteStartObject("sub_id");
            writer.WriteString("format", "opaque");
            writer.WriteString("id", stream.Id);
            writer.WriteEndObject();
            writer.WriteStartObject("events");
            writer.WriteStartObject(uri);
            foreach (var (name, value) in payload)
            {
                writer.WriteString(name, value);
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return (jti, signer.Sign(buffer.WrittenSpan, stream.Algorithm));
    }

    private static void WriteAudience(Utf8JsonWriter writer, EventStream stream)
    {
        if (stream.Audience.Count == 1)
        {
            writer.WriteString("aud", stream.Audience[0]);
        }
        else
        {
            writer.WriteStartArray("aud");
            foreach (string audience in stream.Audience)
            {
                writer.WriteStringValue(audience);
            }

            writer.WriteEndArray();
        }
    }

    // A notice names the attributes a write set (RFC 9967 §2.4): a create's or PUT's top-level
    // attributes; a PATCH's operation paths (their attribute, not the value filter or sub-attribute).
    private static List<string> ChangedAttributes(ChangeEntry entry)
    {
        var attributes = new List<string>();
        if (entry.Data.IsEmpty)
        {
            return attributes;
        }

        using var document = JsonDocument.Parse(entry.Data);
        var root = document.RootElement;
        if (entry.Operation != ChangeOperation.Patch)
        {
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name is not ("schemas" or "id" or "meta"))
                {
                    attributes.Add(property.Name);
                }
            }

            return attributes;
        }

        foreach (var property in root.EnumerateObject())
        {
            if (!property.NameEquals("Operations") || property.Value.ValueKind != JsonValueKind.Array)
            {
                continue;
            }

            foreach (var operation in property.Value.EnumerateArray())
            {
                if (operation.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                string? path = null;
                JsonElement value = default;
                foreach (var member in operation.EnumerateObject())
                {
                    if (member.Name.Equals("path", StringComparison.OrdinalIgnoreCase) && member.Value.ValueKind == JsonValueKind.String)
                    {
                        path = member.Value.GetString();
                    }
                    else if (member.Name.Equals("value", StringComparison.OrdinalIgnoreCase))
                    {
                        value = member.Value;
                    }
                }

                if (!string.IsNullOrEmpty(path))
                {
                    AddOnce(attributes, AttributeOf(path));
                }
                else if (value.ValueKind == JsonValueKind.Object)
                {
                    foreach (var member in value.EnumerateObject())
                    {
                        if (member.Name != "schemas")
                        {
                            AddOnce(attributes, member.Name);
                        }
                    }
                }
            }
        }

        return attributes;
    }

    private static string AttributeOf(string path)
    {
        int filter = path.IndexOf('[', StringComparison.Ordinal);
        var head = filter < 0 ? path : path[..filter];
        if (head.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            // urn:…:User:manager.value → urn:…:User:manager
            int colon = head.LastIndexOf(':');
            int dot = head.IndexOf('.', colon + 1);
            return dot < 0 ? head : head[..dot];
        }

        int sub = head.IndexOf('.', StringComparison.Ordinal);
        return sub < 0 ? head : head[..sub];
    }

    private static void AddOnce(List<string> list, string value)
    {
        if (!list.Contains(value))
        {
            list.Add(value);
        }
    }
}
