using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Serialization;

/// <summary>
/// Which attributes a response carries: the "returned" characteristic (RFC 7643 §2.2) combined with
/// the attributes / excludedAttributes parameters (RFC 7644 §3.4.2.5, §3.9). Built once per request
/// from names; the generated writers then test one flag per ordinal.
/// </summary>
public sealed class ScimProjection
{
    private readonly bool[] _included;

    private ScimProjection(ScimResourceType resourceType, bool[] included)
    {
        ResourceType = resourceType;
        _included = included;
    }

    public ScimResourceType ResourceType { get; }

    /// <summary>True when the attribute (or extension block) with this ordinal is written.</summary>
    public bool Includes(int ordinal) => _included[ordinal];

    /// <summary>The default response set: "always" and "default" attributes (RFC 7643 §2.2).</summary>
    public static ScimProjection Default(ScimResourceType resourceType) => resourceType.DefaultProjection;

    /// <summary>
    /// Every attribute, "returned: never" ones included. For the server's own stored form only:
    /// never for a response.
    /// </summary>
    public static ScimProjection Everything(ScimResourceType resourceType) => resourceType.EverythingProjection;

    internal static ScimProjection CreateDefault(ScimResourceType resourceType) =>
        Build(resourceType, requested: null, excluded: null, everything: false);

    internal static ScimProjection CreateEverything(ScimResourceType resourceType) =>
        Build(resourceType, requested: null, excluded: null, everything: true);

    /// <summary>
    /// Builds a projection from the comma-separated attributes and excludedAttributes parameters.
    /// Names are attribute paths, optionally URN-qualified, or an extension's URN for the whole
    /// extension. Unknown names are ignored: RFC 7644 §3.4.2.5 gives no error for them, and
    /// identity providers ask for attributes a deployment may not have.
    /// </summary>
    public static ScimProjection Create(ScimResourceType resourceType, string? attributes, string? excludedAttributes)
    {
        bool hasAttributes = !string.IsNullOrWhiteSpace(attributes);
        bool hasExcluded = !string.IsNullOrWhiteSpace(excludedAttributes);
        if (!hasAttributes && !hasExcluded)
        {
            return resourceType.DefaultProjection;
        }

        var requested = hasAttributes ? Mark(resourceType, attributes!) : null;
        var excluded = hasExcluded ? Mark(resourceType, excludedAttributes!) : null;
        return Build(resourceType, requested, excluded, everything: false);
    }

    private static bool[] Mark(ScimResourceType resourceType, string list)
    {
        var marked = new bool[resourceType.OrdinalCount];
        foreach (var range in list.AsSpan().Split(','))
        {
            var name = list.AsSpan()[range].Trim();
            if (name.IsEmpty)
            {
                continue;
            }

            if (resourceType.FindExtension(name) is { } extension)
            {
                marked[extension.Ordinal] = true;
                foreach (var attribute in extension.Schema.Attributes)
                {
                    marked[attribute.Ordinal] = true;
                }

                continue;
            }

            if (resourceType.ResolvePath(name) is { } resolved)
            {
                marked[resolved.Ordinal] = true;
            }
        }

        return marked;
    }

    private static ScimProjection Build(ScimResourceType resourceType, bool[]? requested, bool[]? excluded, bool everything)
    {
        var included = new bool[resourceType.OrdinalCount];
        foreach (var attribute in resourceType.CommonAttributes)
        {
            Decide(attribute, requested, excluded, everything, ancestorRequested: false, included);
        }

        foreach (var attribute in resourceType.Schema.Attributes)
        {
            Decide(attribute, requested, excluded, everything, ancestorRequested: false, included);
        }

        foreach (var extension in resourceType.Extensions)
        {
            bool any = false;
            bool blockRequested = requested is not null && requested[extension.Ordinal];
            foreach (var attribute in extension.Schema.Attributes)
            {
                any |= Decide(attribute, requested, excluded, everything, blockRequested, included);
            }

            included[extension.Ordinal] = any;
        }

        return new ScimProjection(resourceType, included);
    }

    // Returns whether the attribute is written; fills in its sub-attributes on the way.
    private static bool Decide(
        ScimAttribute attribute,
        bool[]? requested,
        bool[]? excluded,
        bool everything,
        bool ancestorRequested,
        bool[] included)
    {
        bool self;
        bool named = requested is not null && requested[attribute.Ordinal];
        if (everything)
        {
            self = true;
        }
        else if (attribute.Returned == ScimReturned.Never)
        {
            self = false;
        }
        else if (attribute.Returned == ScimReturned.Always)
        {
            self = true;
        }
        else if (requested is not null)
        {
            // RFC 7644 §3.4.2.5: only the named attributes (and their sub-attributes), plus "always".
            self = named || (ancestorRequested && attribute.Returned != ScimReturned.Request);
        }
        else
        {
            self = attribute.Returned == ScimReturned.Default && !(excluded is not null && excluded[attribute.Ordinal]);
        }

        bool anySub = false;
        foreach (var sub in attribute.SubAttributes)
        {
            bool subIncluded = Decide(sub, requested, excluded, everything, ancestorRequested || named, included);
            if (!self)
            {
                // A sub-attribute alone keeps its parent only when the parent was not ruled out itself.
                subIncluded = subIncluded && requested is not null && !ancestorRequested && !named
                    && attribute.Returned != ScimReturned.Never && requested[sub.Ordinal];
                included[sub.Ordinal] = subIncluded;
            }

            anySub |= subIncluded;
        }

        // "attributes=name.givenName" names only the sub-attribute: the container must be written.
        if (!self && anySub)
        {
            self = true;
        }

        included[attribute.Ordinal] = self;
        return self;
    }
}
