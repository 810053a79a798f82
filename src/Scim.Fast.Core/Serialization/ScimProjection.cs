using System.Diagnostics.CodeAnalysis;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
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

    private ScimProjection(ScimResourceType resourceType, bool[] included, IReadOnlyList<ScimValueSelection> selections)
    {
        ResourceType = resourceType;
        _included = included;
        Selections = selections;
    }

    /// <summary>
    /// How many top-level members the projection includes (core attributes, extension blocks), or
    /// -1 when it includes <c>schemas</c> (read apart from the attributes): a reader of its own
    /// stored form can stop once it has read that many (<see cref="ScimReadOptions.StopWhenRead"/>).
    /// </summary>
    public int TopLevelCount => _topLevelCount ??= CountTopLevel(ResourceType, _included);

    // Counted when first asked (by a reader told to stop early), not for every response projection.
    private int? _topLevelCount;

    private static int CountTopLevel(ScimResourceType resourceType, bool[] included)
    {
        int count = 0;
        foreach (var attribute in resourceType.CommonAttributes)
        {
            if (included[attribute.Ordinal])
            {
                if (attribute.Name == "schemas")
                {
                    return -1;
                }

                count++;
            }
        }

        foreach (var attribute in resourceType.Schema.Attributes)
        {
            count += included[attribute.Ordinal] ? 1 : 0;
        }

        foreach (var extension in resourceType.Extensions)
        {
            count += included[extension.Ordinal] ? 1 : 0;
        }

        return count;
    }

    public ScimResourceType ResourceType { get; }

    /// <summary>
    /// Value filters named in attributes / excludedAttributes (<c>emails[type eq "work"]</c>): the
    /// values of a multi-valued attribute a response keeps or drops. Empty for plain names.
    /// </summary>
    public IReadOnlyList<ScimValueSelection> Selections { get; }

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
    /// identity providers ask for attributes a deployment may not have. A value filter that does not
    /// parse is ignored here; <see cref="TryCreate"/> reports it.
    /// </summary>
    public static ScimProjection Create(ScimResourceType resourceType, string? attributes, string? excludedAttributes) =>
        TryCreate(resourceType, attributes, excludedAttributes, out var projection, out _, strict: false) ? projection : resourceType.DefaultProjection;

    /// <summary>
    /// As <see cref="Create"/>, but a name with a value filter (<c>emails[type eq "work"]</c>, with an
    /// optional <c>.subAttribute</c> after it) that does not parse, or filters an attribute that is
    /// not multi-valued, is <c>400 invalidPath</c>. Microsoft's Entra ID test collection asks for
    /// <c>attributes=emails[type eq "work"]</c> and expects the emails, narrowed to the matching values.
    /// </summary>
    public static bool TryCreate(
        ScimResourceType resourceType,
        string? attributes,
        string? excludedAttributes,
        [NotNullWhen(true)] out ScimProjection? projection,
        [NotNullWhen(false)] out ScimError? error) =>
        TryCreate(resourceType, attributes, excludedAttributes, out projection, out error, strict: true);

    private static bool TryCreate(ScimResourceType resourceType, string? attributes, string? excludedAttributes, [NotNullWhen(true)] out ScimProjection? projection, out ScimError? error, bool strict)
    {
        projection = null;
        error = null;
        bool hasAttributes = !string.IsNullOrWhiteSpace(attributes);
        bool hasExcluded = !string.IsNullOrWhiteSpace(excludedAttributes);
        if (!hasAttributes && !hasExcluded)
        {
            projection = resourceType.DefaultProjection;
            return true;
        }

        var selections = new List<ScimValueSelection>();
        bool[]? requested = null;
        bool[]? excluded = null;
        if ((hasAttributes && !TryMark(resourceType, attributes!, keep: true, selections, out requested, out error) && strict)
            || (hasExcluded && !TryMark(resourceType, excludedAttributes!, keep: false, selections, out excluded, out error) && strict))
        {
            return false;
        }

        var built = Build(resourceType, requested, excluded, everything: false);
        projection = selections.Count == 0 ? built : new ScimProjection(resourceType, built._included, selections);
        return true;
    }

    // Marks each named attribute; a value filter marks its attribute when it keeps values (it
    // narrows, it does not exclude) and adds a selection. False (with the rest still marked) on the
    // first value filter that does not parse.
    private static bool TryMark(ScimResourceType resourceType, string list, bool keep, List<ScimValueSelection> selections, out bool[] marked, out ScimError? error)
    {
        marked = new bool[resourceType.OrdinalCount];
        error = null;
        foreach (var name in SplitNames(list))
        {
            if (name.Contains('[', StringComparison.Ordinal))
            {
                if (!TryParseSelection(resourceType, name, keep, out var selection, out var subAttribute, out var selectionError))
                {
                    error ??= selectionError;
                    continue;
                }

                selections.Add(selection);
                if (keep)
                {
                    marked[(subAttribute ?? selection.Attribute).Ordinal] = true;
                }

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

        return error is null;
    }

    // Names separated by commas, except commas inside a value filter's brackets (whose quoted
    // strings may hold brackets too: the PATCH path grammar's bracket matching skips them).
    private static List<string> SplitNames(string list)
    {
        var names = new List<string>();
        int start = 0;
        for (int i = 0; i < list.Length; i++)
        {
            if (list[i] == '[')
            {
                int close = Patch.ScimPatchPath.MatchingBracket(list, i);
                i = close < 0 ? list.Length - 1 : close;
            }
            else if (list[i] == ',')
            {
                names.Add(list[start..i].Trim());
                start = i + 1;
            }
        }

        names.Add(list[start..].Trim());
        names.RemoveAll(static n => n.Length == 0);
        return names;
    }

    // "emails[type eq \"work\"]" or "emails[type eq \"work\"].value": parsed as the PATCH path
    // grammar parses it (RFC 7644 §3.5.2: valuePath [subAttr]), which is the same syntax.
    private static bool TryParseSelection(ScimResourceType resourceType, string name, bool keep, out ScimValueSelection selection, out ScimAttribute? subAttribute, out ScimError? error)
    {
        selection = default;
        subAttribute = null;
        error = null;
        if (!Patch.ScimPatchPath.TryParse(name, resourceType, out var path, out var pathError)
            || path is not { Attribute: { } attribute, Filter: { } inner })
        {
            error = ScimError.InvalidPath(pathError?.Detail ?? $"'{name}' is not an attribute path with a value filter (attr[filter] or attr[filter].subAttr).");
            return false;
        }

        if (!attribute.MultiValued)
        {
            error = ScimError.InvalidPath($"'{attribute.Path}' is not multi-valued: a value filter selects among the values of a multi-valued attribute.");
            return false;
        }

        subAttribute = path.SubAttribute;
        selection = new ScimValueSelection(attribute, new FilterValuePath(attribute, inner), keep);
        return true;
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

        return new ScimProjection(resourceType, rules.Included, []);
    }

    /// <summary>
    /// What a reader must decode to evaluate expressions over <paramref name="attributes"/> (see
    /// <see cref="ScimReadOptions.Only"/>): each attribute with everything under it, the complex
    /// attributes and extension blocks above it, and id.
    /// </summary>
    public static ScimProjection ForReading(ScimResourceType resourceType, IEnumerable<ScimAttribute> attributes)
    {
        var included = new bool[resourceType.OrdinalCount];
        void Below(ScimAttribute attribute)
        {
            included[attribute.Ordinal] = true;
            foreach (var sub in attribute.SubAttributes)
            {
                Below(sub);
            }
        }

        foreach (var attribute in attributes.Append(resourceType.ResolvePath("id")!))
        {
            Below(attribute);
            for (var parent = attribute.Parent; parent is not null; parent = parent.Parent)
            {
                included[parent.Ordinal] = true;
            }

            foreach (var extension in resourceType.Extensions)
            {
                if (attribute.IsExtension && string.Equals(extension.Schema.Id, attribute.SchemaId, StringComparison.OrdinalIgnoreCase))
                {
                    included[extension.Ordinal] = true;
                }
            }
        }

        return new ScimProjection(resourceType, included, []);
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

/// <summary>
/// A value filter in attributes (<paramref name="Keep"/>: the response keeps only the matching values)
/// or in excludedAttributes (it drops them), over the multi-valued <paramref name="Attribute"/>.
/// </summary>
public readonly record struct ScimValueSelection(ScimAttribute Attribute, FilterValuePath Filter, bool Keep);
