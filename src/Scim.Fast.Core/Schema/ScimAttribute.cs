using System.Diagnostics;

namespace Scim.Fast.Core.Schema;

/// <summary>
/// One attribute definition with its characteristics (RFC 7643 §2.2, §7). Instances are generated
/// from schemas/*.json, one tree per resource type, so <see cref="Ordinal"/> is a dense index that
/// projections and compiled filters use instead of names.
/// </summary>
[DebuggerDisplay("{Path,nq} ({Type})")]
public sealed class ScimAttribute
{
    public ScimAttribute(
        int ordinal,
        string name,
        ScimAttributeType type,
        bool multiValued,
        string description,
        bool required,
        bool caseExact,
        ScimMutability mutability,
        ScimReturned returned,
        ScimUniqueness uniqueness,
        string[] canonicalValues,
        string[] referenceTypes,
        ScimAttribute[] subAttributes)
    {
        Ordinal = ordinal;
        Name = name;
        Type = type;
        MultiValued = multiValued;
        Description = description;
        Required = required;
        CaseExact = caseExact;
        Mutability = mutability;
        Returned = returned;
        Uniqueness = uniqueness;
        CanonicalValues = canonicalValues;
        ReferenceTypes = referenceTypes;
        SubAttributes = subAttributes;
        Path = name;
        foreach (var sub in subAttributes)
        {
            sub.Parent = this;
            sub.Path = name + "." + sub.Name;
        }
    }

    /// <summary>Dense index of this attribute within its resource type.</summary>
    public int Ordinal { get; }

    public string Name { get; }

    public ScimAttributeType Type { get; }

    public bool MultiValued { get; }

    public string Description { get; }

    public bool Required { get; }

    public bool CaseExact { get; }

    public ScimMutability Mutability { get; }

    public ScimReturned Returned { get; }

    public ScimUniqueness Uniqueness { get; }

    public IReadOnlyList<string> CanonicalValues { get; }

    public IReadOnlyList<string> ReferenceTypes { get; }

    public IReadOnlyList<ScimAttribute> SubAttributes { get; }

    /// <summary>The complex attribute this is a sub-attribute of; null at the top level.</summary>
    public ScimAttribute? Parent { get; private set; }

    /// <summary>The attribute path without schema URN: <c>name.givenName</c>.</summary>
    public string Path { get; private set; }

    /// <summary>True for attributes of a schema extension (not the core schema or the common attributes).</summary>
    public bool IsExtension { get; internal set; }

    /// <summary>The schema that declares the attribute; set when the schema is built.</summary>
    public string SchemaId { get; internal set; } = "";

    /// <summary>Finds a sub-attribute by name, case-insensitively (RFC 7643 §2.1).</summary>
    public ScimAttribute? FindSubAttribute(ReadOnlySpan<char> name) => ScimSchema.Find(SubAttributes, name);
}
