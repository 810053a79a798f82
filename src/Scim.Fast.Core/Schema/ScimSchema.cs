namespace Scim.Fast.Core.Schema;

/// <summary>A schema definition (RFC 7643 §7): the core schema of a resource type or an extension.</summary>
public sealed class ScimSchema
{
    public ScimSchema(string id, string name, string description, ScimAttribute[] attributes)
    {
        Id = id;
        Name = name;
        Description = description;
        Attributes = attributes;
        foreach (var attribute in attributes)
        {
            SetSchemaId(attribute, id);
        }
    }

    /// <summary>The schema URN, e.g. <c>urn:ietf:params:scim:schemas:core:2.0:User</c>.</summary>
    public string Id { get; }

    public string Name { get; }

    public string Description { get; }

    public IReadOnlyList<ScimAttribute> Attributes { get; }

    /// <summary>Finds a top-level attribute by name, case-insensitively (RFC 7643 §2.1).</summary>
    public ScimAttribute? FindAttribute(ReadOnlySpan<char> name) => Find(Attributes, name);

    internal static ScimAttribute? Find(IReadOnlyList<ScimAttribute> attributes, ReadOnlySpan<char> name)
    {
        for (int i = 0; i < attributes.Count; i++)
        {
            if (name.Equals(attributes[i].Name, StringComparison.OrdinalIgnoreCase))
            {
                return attributes[i];
            }
        }

        return null;
    }

    internal static void SetSchemaId(ScimAttribute attribute, string id)
    {
        attribute.SchemaId = id;
        foreach (var sub in attribute.SubAttributes)
        {
            SetSchemaId(sub, id);
        }
    }
}

/// <summary>A schema extension of a resource type (RFC 7643 §6, "schemaExtensions").</summary>
public sealed class ScimSchemaExtension
{
    public ScimSchemaExtension(ScimSchema schema, bool required, int ordinal)
    {
        Schema = schema;
        Required = required;
        Ordinal = ordinal;
    }

    public ScimSchema Schema { get; }

    public bool Required { get; }

    /// <summary>Ordinal of the extension's block (<c>"urn:…:enterprise:2.0:User": {…}</c>).</summary>
    public int Ordinal { get; }
}
