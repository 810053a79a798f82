namespace Scim.Fast.Server.Protocol;

/// <summary>One operation of a BulkRequest (RFC 7644 §3.7), as parsed, resolved and run.</summary>
internal sealed class BulkOperation
{
    public required int Index { get; init; }

    public required string Method { get; init; }

    public string? BulkId { get; init; }

    public string? Version { get; init; }

    public required string Path { get; set; }

    /// <summary>The operation's data: a slice of the request's bytes until a reference is resolved in it.</summary>
    public ReadOnlyMemory<byte>? Data { get; set; }

    /// <summary>The bulkIds this operation refers to, found once when the request is parsed.</summary>
    public List<string> References { get; set; } = [];

    public BulkOperationResult? Result { get; set; }

    public string? Location { get; set; }
}
