using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Schema;

/// <summary>
/// A resource type (RFC 7643 §6): its core schema, its extensions and the common attributes
/// (id, externalId, meta; §3.1) that every resource carries but no schema lists.
/// </summary>
public sealed class ScimResourceType
{
    private readonly ScimAttribute?[] _byOrdinal;
    private ScimProjection? _defaultProjection;
    private ScimProjection? _everythingProjection;

    public ScimResourceType(
        string id,
        string name,
        string endpoint,
        string description,
        ScimAttribute[] commonAttributes,
        ScimSchema schema,
        ScimSchemaExtension[] extensions,
        int ordinalCount)
    {
        Id = id;
        Name = name;
        Endpoint = endpoint;
        Description = description;
        CommonAttributes = commonAttributes;
        Schema = schema;
        Extensions = extensions;
        OrdinalCount = ordinalCount;
        _byOrdinal = new ScimAttribute?[ordinalCount];
        foreach (var attribute in commonAttributes)
        {
            // Common attributes (RFC 7643 §3.1) belong to the core schema's namespace.
            ScimSchema.SetSchemaId(attribute, schema.Id);
            Index(attribute);
        }

        foreach (var attribute in schema.Attributes)
        {
            Index(attribute);
        }

        foreach (var extension in extensions)
        {
            foreach (var attribute in extension.Schema.Attributes)
            {
                MarkExtension(attribute);
                Index(attribute);
            }
        }
    }

    public string Id { get; }

    public string Name { get; }

    /// <summary>The endpoint relative to the base URL, e.g. <c>/Users</c>.</summary>
    public string Endpoint { get; }

    public string Description { get; }

    /// <summary>id, externalId and meta (RFC 7643 §3.1).</summary>
    public IReadOnlyList<ScimAttribute> CommonAttributes { get; }

    public ScimSchema Schema { get; }

    public IReadOnlyList<ScimSchemaExtension> Extensions { get; }

    /// <summary>Number of ordinals: every attribute, sub-attribute and extension block.</summary>
    public int OrdinalCount { get; }

    internal ScimProjection DefaultProjection => _defaultProjection ??= ScimProjection.CreateDefault(this);

    internal ScimProjection EverythingProjection => _everythingProjection ??= ScimProjection.CreateEverything(this);

    /// <summary>The attribute with this ordinal, or null when the ordinal names an extension block.</summary>
    public ScimAttribute? AttributeAt(int ordinal) => _byOrdinal[ordinal];

    /// <summary>Finds an extension by its schema URN, case-insensitively.</summary>
    public ScimSchemaExtension? FindExtension(ReadOnlySpan<char> urn)
    {
        foreach (var extension in Extensions)
        {
            if (urn.Equals(extension.Schema.Id, StringComparison.OrdinalIgnoreCase))
            {
                return extension;
            }
        }

        return null;
    }

    /// <summary>
    /// Resolves an attribute path such as <c>userName</c>, <c>name.givenName</c>,
    /// <c>urn:ietf:params:scim:schemas:core:2.0:User:name.givenName</c> or
    /// <c>urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value</c>
    /// (RFC 7644 §3.10; names case-insensitive per RFC 7643 §2.1). Returns null when unknown.
    /// </summary>
    public ScimAttribute? ResolvePath(ReadOnlySpan<char> path)
    {
        IReadOnlyList<ScimAttribute> scope = Schema.Attributes;
        bool includeCommon = true;
        bool qualified = false;
        if (path.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            // Longest URN first: an extension URN may extend the core schema's URN.
            ScimSchemaExtension? match = null;
            foreach (var extension in Extensions)
            {
                if ((match is null || extension.Schema.Id.Length > match.Schema.Id.Length)
                    && StartsWithSchema(path, extension.Schema.Id))
                {
                    match = extension;
                }
            }

            if (match is not null)
            {
                path = path[(match.Schema.Id.Length + 1)..];
                scope = match.Schema.Attributes;
                includeCommon = false;
            }
            else if (StartsWithSchema(path, Schema.Id))
            {
                // Qualified with the core URN: core and common attributes only, never an extension's.
                path = path[(Schema.Id.Length + 1)..];
                qualified = true;
            }
            else
            {
                return null;
            }
        }

        int dot = path.IndexOf('.');
        var head = dot < 0 ? path : path[..dot];
        var attribute = ScimSchema.Find(scope, head);
        if (attribute is null && includeCommon)
        {
            attribute = ScimSchema.Find(CommonAttributes, head);
        }

        if (attribute is null && includeCommon && !qualified)
        {
            // An unqualified name may also belong to an extension (RFC 7644 §3.10 allows the short
            // form when it is unambiguous): found in exactly one extension, or not at all.
            foreach (var extension in Extensions)
            {
                var candidate = extension.Schema.FindAttribute(head);
                if (candidate is not null)
                {
                    if (attribute is not null)
                    {
                        return null;
                    }

                    attribute = candidate;
                }
            }
        }

        if (attribute is null || dot < 0)
        {
            return attribute;
        }

        var rest = path[(dot + 1)..];
        return rest.Contains('.') ? null : attribute.FindSubAttribute(rest);
    }

    private static bool StartsWithSchema(ReadOnlySpan<char> path, string schemaId) =>
        path.Length > schemaId.Length + 1
        && path[schemaId.Length] == ':'
        && path.StartsWith(schemaId, StringComparison.OrdinalIgnoreCase);

    private static void MarkExtension(ScimAttribute attribute)
    {
        attribute.IsExtension = true;
        foreach (var sub in attribute.SubAttributes)
        {
            MarkExtension(sub);
        }
    }

    private void Index(ScimAttribute attribute)
    {
        _byOrdinal[attribute.Ordinal] = attribute;
        foreach (var sub in attribute.SubAttributes)
        {
            Index(sub);
        }
    }
}
