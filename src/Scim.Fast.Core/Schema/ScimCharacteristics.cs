namespace Scim.Fast.Core.Schema;

/// <summary>Attribute data types, RFC 7643 §2.3.</summary>
public enum ScimAttributeType
{
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// <summary>The "mutability" characteristic, RFC 7643 §7.</summary>
public enum ScimMutability
{
    ReadWrite,
    ReadOnly,
    Immutable,
    WriteOnly,
}

/// <summary>The "returned" characteristic, RFC 7643 §7.</summary>
public enum ScimReturned
{
    Default,
    Always,
    Never,
    Request,
}

/// <summary>The "uniqueness" characteristic, RFC 7643 §7.</summary>
public enum ScimUniqueness
{
    None,
    Server,
    Global,
}

/// <summary>The RFC 7643 spellings of the characteristic values, for the /Schemas endpoint.</summary>
public static class ScimCharacteristicNames
{
    public static string Of(ScimAttributeType type) => type switch
    {
        ScimAttributeType.String => "string",
        ScimAttributeType.Boolean => "boolean",
        ScimAttributeType.Decimal => "decimal",
        ScimAttributeType.Integer => "integer",
        ScimAttributeType.DateTime => "dateTime",
        ScimAttributeType.Binary => "binary",
        ScimAttributeType.Reference => "reference",
        _ => "complex",
    };

    public static string Of(ScimMutability mutability) => mutability switch
    {
        ScimMutability.ReadOnly => "readOnly",
        ScimMutability.Immutable => "immutable",
        ScimMutability.WriteOnly => "writeOnly",
        _ => "readWrite",
    };

    public static string Of(ScimReturned returned) => returned switch
    {
        ScimReturned.Always => "always",
        ScimReturned.Never => "never",
        ScimReturned.Request => "request",
        _ => "default",
    };

    public static string Of(ScimUniqueness uniqueness) => uniqueness switch
    {
        ScimUniqueness.Server => "server",
        ScimUniqueness.Global => "global",
        _ => "none",
    };
}
