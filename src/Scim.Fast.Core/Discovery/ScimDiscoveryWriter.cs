using System.Text.Json;

using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Discovery;

/// <summary>
/// Writes the discovery documents of RFC 7644 §4 (/Schemas, /ResourceTypes, /ServiceProviderConfig)
/// from the generated schema tables, so what the endpoints say and what the serializers do come from
/// the same JSON. Cold path: readable Utf8JsonWriter code.
/// </summary>
public static class ScimDiscoveryWriter
{
    /// <summary>Every distinct schema of the resource types (core schemas and extensions), in order.</summary>
    public static IReadOnlyList<ScimSchema> DistinctSchemas(IEnumerable<ScimResourceType> resourceTypes)
    {
        var schemas = new List<ScimSchema>();
        foreach (var resourceType in resourceTypes)
        {
            Add(resourceType.Schema);
            foreach (var extension in resourceType.Extensions)
            {
                Add(extension.Schema);
            }
        }

        return schemas;

        void Add(ScimSchema schema)
        {
            if (!schemas.Exists(s => string.Equals(s.Id, schema.Id, StringComparison.OrdinalIgnoreCase)))
            {
                schemas.Add(schema);
            }
        }
    }

    /// <summary>A ListResponse (RFC 7644 §3.4.2) around already-written resources.</summary>
    public static void WriteListResponse<T>(Utf8JsonWriter writer, IReadOnlyList<T> items, Action<Utf8JsonWriter, T> writeItem)
    {
        WriteStart(writer, ScimUrns.ListResponse);
        writer.WriteNumber("totalResults", items.Count);
        writer.WriteNumber("itemsPerPage", items.Count);
        writer.WriteNumber("startIndex", 1);
        writer.WriteStartArray("Resources");
        foreach (var item in items)
        {
            writeItem(writer, item);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    /// <summary>A schema representation (RFC 7643 §7, as in §8.7.1).</summary>
    public static void WriteSchema(Utf8JsonWriter writer, ScimSchema schema, string baseUrl)
    {
        WriteStart(writer, ScimUrns.Schema);
        writer.WriteString("id", schema.Id);
        writer.WriteString("name", schema.Name);
        writer.WriteString("description", schema.Description);
        writer.WriteStartArray("attributes");
        foreach (var attribute in schema.Attributes)
        {
            WriteAttribute(writer, attribute);
        }

        writer.WriteEndArray();
        WriteMeta(writer, "Schema", baseUrl + "/Schemas/" + schema.Id);
        writer.WriteEndObject();
    }

    /// <summary>A resource type representation (RFC 7643 §6, as in §8.6).</summary>
    public static void WriteResourceType(Utf8JsonWriter writer, ScimResourceType resourceType, string baseUrl)
    {
        WriteStart(writer, ScimUrns.ResourceType);
        writer.WriteString("id", resourceType.Id);
        writer.WriteString("name", resourceType.Name);
        writer.WriteString("endpoint", resourceType.Endpoint);
        writer.WriteString("description", resourceType.Description);
        writer.WriteString("schema", resourceType.Schema.Id);
        writer.WriteStartArray("schemaExtensions");
        foreach (var extension in resourceType.Extensions)
        {
            writer.WriteStartObject();
            writer.WriteString("schema", extension.Schema.Id);
            writer.WriteBoolean("required", extension.Required);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        WriteMeta(writer, "ResourceType", baseUrl + "/ResourceTypes/" + resourceType.Id);
        writer.WriteEndObject();
    }

    /// <summary>
    /// The service provider configuration (RFC 7643 §5). Every flag comes from <paramref name="features"/>,
    /// so the document says exactly what the running server supports.
    /// </summary>
    public static void WriteServiceProviderConfig(Utf8JsonWriter writer, ScimFeatures features, string baseUrl)
    {
        WriteStart(writer, ScimUrns.ServiceProviderConfig);
        if (features.DocumentationUri is { } documentation)
        {
            writer.WriteString("documentationUri", documentation);
        }

        WriteSupported(writer, "patch", features.Patch);
        writer.WriteStartObject("bulk");
        writer.WriteBoolean("supported", features.Bulk);
        writer.WriteNumber("maxOperations", features.BulkMaxOperations);
        writer.WriteNumber("maxPayloadSize", features.BulkMaxPayloadSize);
        writer.WriteEndObject();
        writer.WriteStartObject("filter");
        writer.WriteBoolean("supported", features.Filter);
        writer.WriteNumber("maxResults", features.FilterMaxResults);
        writer.WriteEndObject();
        WriteSupported(writer, "changePassword", features.ChangePassword);
        WriteSupported(writer, "sort", features.Sort);
        WriteSupported(writer, "etag", features.ETag);
        if (features.CursorPagination || features.IndexPagination)
        {
            // RFC 9865 §4: which pagination methods, the default one and the page sizes.
            writer.WriteStartObject("pagination");
            writer.WriteBoolean("cursor", features.CursorPagination);
            writer.WriteBoolean("index", features.IndexPagination);
            writer.WriteString("defaultPaginationMethod", features.IndexPagination ? "index" : "cursor");
            writer.WriteNumber("defaultPageSize", features.DefaultPageSize);
            writer.WriteNumber("maxPageSize", features.FilterMaxResults);
            if (features.CursorTimeoutSeconds > 0)
            {
                writer.WriteNumber("cursorTimeout", features.CursorTimeoutSeconds);
            }

            writer.WriteEndObject();
        }

        writer.WriteStartArray("authenticationSchemes");
        if (features.BearerTokens)
        {
            writer.WriteStartObject();
            writer.WriteString("type", "oauthbearertoken");
            writer.WriteString("name", "OAuth Bearer Token");
            writer.WriteString("description", "Authentication with a bearer token (RFC 6750).");
            writer.WriteBoolean("primary", true);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();

        // RFC 9967 §4: the SET event URIs a stream can deliver; no asynchronous requests (§2.5.1.1).
        if (features.SecurityEventUris is { } eventUris)
        {
            writer.WriteStartObject("securityEvents");
            writer.WriteString("asyncRequest", "none");
            writer.WriteStartArray("eventUris");
            foreach (string uri in eventUris)
            {
                writer.WriteStringValue(uri);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        WriteMeta(writer, "ServiceProviderConfig", baseUrl + "/ServiceProviderConfig");
        writer.WriteEndObject();
    }

    // Every SCIM document opens with its "schemas" (RFC 7643 §3).
    private static void WriteStart(Utf8JsonWriter writer, string schemaUrn)
    {
        writer.WriteStartObject();
        writer.WriteStartArray("schemas");
        writer.WriteStringValue(schemaUrn);
        writer.WriteEndArray();
    }

    private static void WriteSupported(Utf8JsonWriter writer, string name, bool supported)
    {
        writer.WriteStartObject(name);
        writer.WriteBoolean("supported", supported);
        writer.WriteEndObject();
    }

    private static void WriteAttribute(Utf8JsonWriter writer, ScimAttribute attribute)
    {
        writer.WriteStartObject();
        writer.WriteString("name", attribute.Name);
        writer.WriteString("type", ScimCharacteristicNames.Of(attribute.Type));
        writer.WriteBoolean("multiValued", attribute.MultiValued);
        writer.WriteString("description", attribute.Description);
        writer.WriteBoolean("required", attribute.Required);
        if (attribute.CanonicalValues.Count > 0)
        {
            WriteStrings(writer, "canonicalValues", attribute.CanonicalValues);
        }

        writer.WriteBoolean("caseExact", attribute.CaseExact);
        writer.WriteString("mutability", ScimCharacteristicNames.Of(attribute.Mutability));
        writer.WriteString("returned", ScimCharacteristicNames.Of(attribute.Returned));
        writer.WriteString("uniqueness", ScimCharacteristicNames.Of(attribute.Uniqueness));
        if (attribute.ReferenceTypes.Count > 0)
        {
            WriteStrings(writer, "referenceTypes", attribute.ReferenceTypes);
        }

        if (attribute.SubAttributes.Count > 0)
        {
            writer.WriteStartArray("subAttributes");
            foreach (var sub in attribute.SubAttributes)
            {
                WriteAttribute(writer, sub);
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter writer, string name, IReadOnlyList<string> values)
    {
        writer.WriteStartArray(name);
        foreach (var value in values)
        {
            writer.WriteStringValue(value);
        }

        writer.WriteEndArray();
    }

    private static void WriteMeta(Utf8JsonWriter writer, string resourceType, string location)
    {
        writer.WriteStartObject("meta");
        writer.WriteString("resourceType", resourceType);
        writer.WriteString("location", location);
        writer.WriteEndObject();
    }
}

/// <summary>What the running server supports; the single source of the ServiceProviderConfig document.</summary>
public sealed record ScimFeatures
{
    public string? DocumentationUri { get; init; }

    public bool Patch { get; init; }

    public bool Bulk { get; init; }

    public int BulkMaxOperations { get; init; }

    public int BulkMaxPayloadSize { get; init; }

    public bool Filter { get; init; }

    public int FilterMaxResults { get; init; }

    public bool ChangePassword { get; init; }

    public bool Sort { get; init; }

    public bool ETag { get; init; }

    public bool BearerTokens { get; init; }

    /// <summary>RFC 9967 §4 event URIs when SCIM events are on; null: not advertised.</summary>
    public IReadOnlyList<string>? SecurityEventUris { get; init; }

    /// <summary>RFC 9865 cursor pagination.</summary>
    public bool CursorPagination { get; init; }

    /// <summary>RFC 7644 §3.4.2.4 index pagination.</summary>
    public bool IndexPagination { get; init; }

    /// <summary>Page size when a request names no count.</summary>
    public int DefaultPageSize { get; init; }

    /// <summary>How long a cursor stays valid; 0 when cursors do not expire (not advertised).</summary>
    public int CursorTimeoutSeconds { get; init; }
}
