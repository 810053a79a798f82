using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Scim.Fast.Generators.Model;

// The equatable pipeline model. No Roslyn symbols, no AdditionalText: only values, so that the
// incremental driver can compare one run's model with the next.

/// <summary>What one schema JSON file contributed.</summary>
internal sealed record SchemaFileSpec(
    string Path,
    EquatableArray<SchemaSpec> Schemas,
    EquatableArray<ResourceTypeSpec> ResourceTypes,
    EquatableArray<IndexCatalogueSpec> Catalogues,
    EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>A schema (RFC 7643 §7).</summary>
internal sealed record SchemaSpec(
    string Id,
    string Name,
    string Description,
    EquatableArray<AttributeSpec> Attributes,
    LocationInfo Location);

/// <summary>An attribute definition with every characteristic (RFC 7643 §2.2, §7).</summary>
internal sealed record AttributeSpec(
    string Name,
    string Type,
    bool MultiValued,
    string Description,
    bool Required,
    bool CaseExact,
    string Mutability,
    string Returned,
    string Uniqueness,
    EquatableArray<string> CanonicalValues,
    EquatableArray<string> ReferenceTypes,
    EquatableArray<AttributeSpec> SubAttributes);

/// <summary>A resource type (RFC 7643 §6).</summary>
internal sealed record ResourceTypeSpec(
    string Id,
    string Name,
    string Endpoint,
    string Description,
    string Schema,
    EquatableArray<ExtensionSpec> Extensions,
    LocationInfo Location);

internal sealed record ExtensionSpec(string Schema, bool Required);

/// <summary>The index catalogue of one resource type (schemas/indexes/*.json, DESIGN-NOTES §8).</summary>
internal sealed record IndexCatalogueSpec(
    string ResourceType,
    EquatableArray<IndexSpec> Indexes,
    LocationInfo Location);

/// <summary>One declared index. Number is -1 when the kind has none; CaseExact null means the schema's.</summary>
internal sealed record IndexSpec(
    string Name,
    string Attribute,
    string Kind,
    int Number,
    EquatableArray<string> Operators,
    bool SortBy,
    bool? CaseExact,
    LocationInfo Location);

/// <summary>Everything the emitter needs, after all files are combined and checked.</summary>
internal sealed record GenerationSpec(
    string Namespace,
    EquatableArray<SchemaSpec> Schemas,
    EquatableArray<ResourceTypeSpec> ResourceTypes,
    EquatableArray<IndexCatalogueSpec> Catalogues,
    EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>A location as plain values (a <see cref="Location"/> is not equatable across runs).</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);
}

/// <summary>A diagnostic as plain values.</summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo Location, EquatableArray<string> Arguments);
