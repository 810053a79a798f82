using System.Buffers;
using System.Diagnostics.CodeAnalysis;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Serialization;

/// <summary>
/// The generated reader and writer of one resource type. One sealed subclass per resource type is
/// generated from schemas/*.json (see Scim.Fast.Generators).
/// </summary>
public abstract class ScimResourceSerializer<TResource>
    where TResource : class, IScimResource
{
    public abstract ScimResourceType ResourceType { get; }

    /// <summary>The generated typed editor of this resource type; PATCH applies through it.</summary>
    public virtual Patch.ScimResourceEditor<TResource>? Editor => null;

    /// <summary>
    /// Reads one resource from UTF-8 JSON (possibly multi-segment, as a PipeReader hands it over).
    /// Never throws for bad input: returns false with a 400 error naming the attribute.
    /// </summary>
    public abstract bool TryRead(
        ReadOnlySequence<byte> utf8Json,
        ScimReadOptions options,
        [NotNullWhen(true)] out TResource? resource,
        [NotNullWhen(false)] out ScimError? error);

    /// <inheritdoc cref="TryRead(ReadOnlySequence{byte}, ScimReadOptions, out TResource, out ScimError)"/>
    public bool TryRead(
        ReadOnlyMemory<byte> utf8Json,
        ScimReadOptions options,
        [NotNullWhen(true)] out TResource? resource,
        [NotNullWhen(false)] out ScimError? error)
    {
        // The generated reader works on sequences; a contiguous buffer is a one-segment sequence.
        return TryRead(new ReadOnlySequence<byte>(utf8Json), options, out resource, out error);
    }

    /// <summary>
    /// Writes the resource as JSON, honouring "returned" and the projection (RFC 7643 §2.2,
    /// RFC 7644 §3.4.2.5). A null projection means the default response set.
    /// </summary>
    public abstract void Write(ref ScimJsonWriter writer, TResource resource, ScimProjection? projection = null);

    /// <summary>Writes the resource into <paramref name="output"/> and commits the bytes.</summary>
    public void Write(IBufferWriter<byte> output, TResource resource, ScimProjection? projection = null)
    {
        var writer = new ScimJsonWriter(output);
        Write(ref writer, resource, projection);
        writer.Flush();
    }
}
