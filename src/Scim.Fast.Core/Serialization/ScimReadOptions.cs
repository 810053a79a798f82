namespace Scim.Fast.Core.Serialization;

/// <summary>How a generated reader treats its input.</summary>
public sealed class ScimReadOptions
{
    /// <summary>
    /// A client's request body: readOnly attributes (id, meta, groups…) are ignored (RFC 7643 §2.2),
    /// unknown attributes and unknown extension URNs are skipped.
    /// </summary>
    public static ScimReadOptions Request { get; } = new();

    /// <summary>As <see cref="Request"/>, but unknown attributes and schema URNs are 400 invalidSyntax.</summary>
    public static ScimReadOptions StrictRequest { get; } = new() { RejectUnknownAttributes = true };

    /// <summary>
    /// Server-produced JSON (the stored form, fixtures): every attribute is read, readOnly included,
    /// and <c>schemas</c> may be absent.
    /// </summary>
    public static ScimReadOptions Trusted { get; } = new() { IgnoreReadOnly = false, RequireSchemas = false };

    /// <summary>Skip readOnly attributes on input. Default true.</summary>
    public bool IgnoreReadOnly { get; init; } = true;

    /// <summary>Reject an attribute or schema URN the resource type does not define. Default false.</summary>
    public bool RejectUnknownAttributes { get; init; }

    /// <summary>Require a <c>schemas</c> array naming the core schema (RFC 7643 §3). Default true.</summary>
    public bool RequireSchemas { get; init; } = true;

    /// <summary>
    /// Read only the attributes this projection includes and skip the rest unparsed (a list query's
    /// candidates: only what the filter and the sort look at). Null: everything. The projection must
    /// be of the reader's resource type.
    /// </summary>
    public ScimProjection? Only { get; init; }

    /// <summary>
    /// With <see cref="Only"/>: stop reading once every top-level member the projection includes has
    /// been read (<see cref="ScimProjection.TopLevelCount"/>), leaving the rest unread and
    /// unchecked. Only for the server's own stored form, where each member appears once, in the
    /// writer's order, and the JSON is known good: a scan testing <c>name.familyName</c> stops after
    /// <c>name</c> instead of tokenizing the emails, addresses and extensions after it.
    /// </summary>
    public bool StopWhenRead { get; init; }

    /// <summary>Maximum JSON nesting depth; deeper input is 400 invalidSyntax. Default 32.</summary>
    public int MaxDepth { get; init; } = 32;
}
