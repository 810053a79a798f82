namespace Scim.Fast.Core.Schema;

/// <summary>The "meta" common attribute, RFC 7643 §3.1. Set by the server, never read from clients.</summary>
public sealed class ScimMeta
{
    public string? ResourceType { get; set; }

    public DateTimeOffset? Created { get; set; }

    public DateTimeOffset? LastModified { get; set; }

    public string? Location { get; set; }

    public string? Version { get; set; }
}

/// <summary>The common attributes every resource carries (RFC 7643 §3.1).</summary>
public interface IScimResource
{
    string? Id { get; set; }

    string? ExternalId { get; set; }

    ScimMeta? Meta { get; set; }
}
