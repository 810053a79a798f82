using System.Buffers;

using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Core.Errors;

/// <summary>
/// A SCIM error (RFC 7644 §3.12). Parsers return one instead of throwing; the request boundary
/// writes it as an <c>urn:ietf:params:scim:api:messages:2.0:Error</c> body.
/// </summary>
public sealed class ScimError
{
    public ScimError(int status, ScimErrorType type, string detail)
    {
        Status = status;
        Type = type;
        Detail = detail;
    }

    /// <summary>The HTTP status code (written as a JSON string, as §3.12 requires).</summary>
    public int Status { get; }

    public ScimErrorType Type { get; }

    /// <summary>A human-readable explanation. Never contains secrets or whole request bodies.</summary>
    public string Detail { get; }

    public static ScimError InvalidSyntax(string detail) => new(400, ScimErrorType.InvalidSyntax, detail);

    public static ScimError InvalidValue(string detail) => new(400, ScimErrorType.InvalidValue, detail);

    public static ScimError InvalidFilter(string detail) => new(400, ScimErrorType.InvalidFilter, detail);

    public static ScimError InvalidPath(string detail) => new(400, ScimErrorType.InvalidPath, detail);

    public static ScimError Mutability(string detail) => new(400, ScimErrorType.Mutability, detail);

    public static ScimError NoTarget(string detail) => new(400, ScimErrorType.NoTarget, detail);

    public static ScimError Uniqueness(string detail) => new(409, ScimErrorType.Uniqueness, detail);

    public static ScimError NotFound(string detail) => new(404, ScimErrorType.None, detail);

    /// <summary>The RFC 7644 §3.12 spelling of a scimType, or null for <see cref="ScimErrorType.None"/>.</summary>
    public static string? ScimTypeName(ScimErrorType type) => type switch
    {
        ScimErrorType.InvalidFilter => "invalidFilter",
        ScimErrorType.TooMany => "tooMany",
        ScimErrorType.Uniqueness => "uniqueness",
        ScimErrorType.Mutability => "mutability",
        ScimErrorType.InvalidSyntax => "invalidSyntax",
        ScimErrorType.InvalidPath => "invalidPath",
        ScimErrorType.NoTarget => "noTarget",
        ScimErrorType.InvalidValue => "invalidValue",
        ScimErrorType.InvalidVers => "invalidVers",
        ScimErrorType.Sensitive => "sensitive",
        ScimErrorType.InvalidCursor => "invalidCursor",
        ScimErrorType.ExpiredCursor => "expiredCursor",
        ScimErrorType.InvalidCount => "invalidCount",
        _ => null,
    };

    /// <summary>Writes the RFC 7644 §3.12 error body.</summary>
    public void WriteTo(IBufferWriter<byte> output)
    {
        var writer = new ScimJsonWriter(output);
        writer.WriteStartMessage(ScimUrns.Error);
        writer.WriteName("\"status\":"u8);
        Span<byte> digits = stackalloc byte[11];
        Status.TryFormat(digits, out int written);
        writer.WriteString(digits[..written]);
        if (ScimTypeName(Type) is { } scimType)
        {
            writer.WriteName("\"scimType\":"u8);
            writer.WriteString(scimType);
        }
        writer.WriteName("\"detail\":"u8);
        writer.WriteString(Detail);
        writer.WriteEndObject();
        writer.Flush();
    }

    public override string ToString() => $"{Status} {ScimTypeName(Type) ?? "-"}: {Detail}";
}
