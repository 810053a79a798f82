using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Server.Protocol;

/// <summary>What a request body must satisfy before it is stored, and how a response narrows values.</summary>
internal abstract partial class ResourceEndpoint<T>
{
    // RFC 7643 §2.2 / RFC 7644 §3.3: required attributes must be present on create and replace.
    private ScimError? CheckRequired(T resource)
    {
        foreach (var attribute in ResourceType.Schema.Attributes)
        {
            if (attribute.Required && attribute.Mutability != ScimMutability.ReadOnly && Accessor.Count(resource, attribute.Ordinal) == 0)
            {
                return ScimError.InvalidValue($"'{attribute.Name}' is required.");
            }
        }

        if (UniqueKeyOf(resource) is { } unique && string.IsNullOrWhiteSpace(unique))
        {
            return ScimError.InvalidValue($"'{UniqueAttributeName}' must not be empty.");
        }

        return CheckOnePrimary(resource);
    }

    // RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more than once" in a
    // multi-valued attribute (emails, phoneNumbers, addresses, …, extensions included). PATCH keeps
    // this by clearing the others; a POST, PUT or /Bulk body that breaks it is refused.
    private ScimError? CheckOnePrimary(T resource)
    {
        foreach (int ordinal in _primaryOrdinals)
        {
            int primaries = 0;
            int count = Accessor.Count(resource, ordinal);
            for (int i = 0; i < count; i++)
            {
                var value = Accessor.Get(resource, ordinal, i);
                if (value.Kind == ScimValueKind.Boolean && value.Boolean && ++primaries > 1)
                {
                    var parent = ResourceType.AttributeAt(ordinal)!.Parent!;
                    return ScimError.InvalidValue($"'{parent.Path}' has more than one value with \"primary\": true; at most one may be primary (RFC 7643 §2.4).");
                }
            }
        }

        return null;
    }

    // The ordinals of every "primary" sub-attribute of a multi-valued complex attribute.
    private static int[] PrimaryOrdinals(ScimResourceType resourceType)
    {
        var ordinals = new List<int>();
        for (int ordinal = 0; ordinal < resourceType.OrdinalCount; ordinal++)
        {
            if (resourceType.AttributeAt(ordinal) is { Name: "primary", Type: ScimAttributeType.Boolean, Parent.MultiValued: true })
            {
                ordinals.Add(ordinal);
            }
        }

        return [.. ordinals];
    }

    // attributes=emails[type eq "work"] keeps only the matching emails; in excludedAttributes the
    // matching ones are dropped (RFC 7644 §3.9 applied to a value path). The resource is this
    // response's own decoded copy, so it is narrowed in place.
    protected void Narrow(T resource, ScimProjection projection)
    {
        foreach (var selection in projection.Selections)
        {
            int ordinal = selection.Attribute.Ordinal;
            int count = Accessor.Count(resource, ordinal);
            if (count == 0)
            {
                continue;
            }

            var inner = CompiledFilter<T>.Compile(selection.Filter.Inner, Accessor);
            var remove = new bool[count];
            for (int i = 0; i < count; i++)
            {
                remove[i] = inner.MatchesElement(resource, i) != selection.Keep;
            }

            Accessor.RemoveValues(resource, ordinal, remove);
        }
    }
}
