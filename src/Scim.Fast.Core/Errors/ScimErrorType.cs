namespace Scim.Fast.Core.Errors;

/// <summary>The <c>scimType</c> values of RFC 7644 §3.12, plus RFC 9865's cursor errors.</summary>
public enum ScimErrorType
{
    /// <summary>No scimType: the status code says it all (401, 404, 405, 413, 500, 501).</summary>
    None = 0,
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    InvalidCursor,
    ExpiredCursor,
    InvalidCount,
}
