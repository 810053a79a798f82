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
        var rules = new Rules(requested, excluded, everything, new bool[resourceType.OrdinalCount]);
        foreach (var attribute in resourceType.CommonAttributes)
        {
            rules.Decide(attribute, ancestorRequested: false);
        }

        foreach (var attribute in resourceType.Schema.Attributes)
        {
            rules.Decide(attribute, ancestorRequested: false);
        }

        foreach (var extension in resourceType.Extensions)
        {
            // "attributes=urn:…:enterprise:2.0:User" asks for the whole extension.
            bool blockRequested = requested is not null && requested[extension.Ordinal];
            bool any = false;
            foreach (var attribute in extension.Schema.Attributes)
            {
                any |= rules.Decide(attribute, blockRequested);
            }

            rules.Included[extension.Ordinal] = any;
        }

        return new ScimProjection(resourceType, rules.Included);
    }

    /// <summary>A programming error, not a client one: a projection built for another resource type.</summary>
    public static void EnsureFor(ScimProjection projection, ScimResourceType resourceType)
    {
        if (!ReferenceEquals(projection.ResourceType, resourceType))
        {
            throw new ArgumentException($"The projection is for '{projection.ResourceType.Name}', not '{resourceType.Name}'.", nameof(projection));
        }
    }

    private readonly record struct Rules(bool[]? Requested, bool[]? Excluded, bool Everything, bool[] Included)
    {
        // Decides an attribute and its sub-attributes; returns whether the attribute is written.
        public bool Decide(ScimAttribute attribute, bool ancestorRequested)
        {
            bool self = Wanted(attribute, ancestorRequested);
            bool anySubNamed = false;
            foreach (var sub in attribute.SubAttributes)
            {
                anySubNamed |= Named(sub);
            }

            // "attributes=name.givenName" names only a sub-attribute: its container comes along.
            if (!self && anySubNamed && attribute.Returned != ScimReturned.Never)
            {
                self = true;
            }

            // Sub-attributes follow a container that was named, or that is "always" returned and was
            // not narrowed to some of its sub-attributes (RFC 7643 §2.2: "always" ignores "attributes").
            bool subsFollow = ancestorRequested || Named(attribute) || (attribute.Returned == ScimReturned.Always && !anySubNamed);
            foreach (var sub in attribute.SubAttributes)
            {
                Included[sub.Ordinal] = self && Wanted(sub, subsFollow);
            }

            Included[attribute.Ordinal] = self;
            return self;
        }

        private bool Named(ScimAttribute attribute) => Requested is not null && Requested[attribute.Ordinal];

        private bool Wanted(ScimAttribute attribute, bool ancestorRequested)
        {
            if (Everything)
            {
                return true;
            }

            return attribute.Returned switch
            {
                ScimReturned.Never => false,
                ScimReturned.Always => true,

                // Only when asked for by name (RFC 7643 §2.2).
                ScimReturned.Request => Named(attribute),

                // RFC 7644 §3.4.2.5: with "attributes", only what is named; else all but the excluded.
                _ => Requested is not null
                    ? Named(attribute) || ancestorRequested
                    : !(Excluded is not null && Excluded[attribute.Ordinal]),
            };
        }
    }
}
