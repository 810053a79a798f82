using Microsoft.AspNetCore.Http;

using Scim.Fast.Server.Protocol;

namespace Scim.Fast.Server;

/// <summary>The hand router: which endpoint, tenant and base URL a request is for.</summary>
internal sealed partial class ScimRequestHandler
{
    internal enum Target
    {
        NotFound,
        ServiceProviderConfig,
        ResourceTypes,
        Schemas,
        Collection,
        Item,
        Search,
        Bulk,
        RootSearch,
        Me,

        /// <summary>{base}/ssf/… (SCIM events: streams, status, verification, poll, SSE).</summary>
        Events,

        /// <summary>{base}/ssf/jwks: the SET signing keys, public.</summary>
        EventKeys,
    }

    /// <summary>SCIM events' endpoints (null when Scim:Events:Enabled is false: {base}/ssf is 404).</summary>
    internal Events.EventEndpoints? Events { get; set; }

    /// <summary>
    /// The SCIM base URL a tenant's resources are located under (meta.location, Location): the
    /// request's scheme, host and path base, <c>/tenants/{name}</c> for a named tenant, the base path.
    /// </summary>
    internal string BaseUrl(HttpRequest request, string? tenantName) =>
        (_publicBaseUrl ?? request.Scheme + "://" + request.Host.Value + request.PathBase.Value) + (tenantName is null ? "" : TenantsPrefix + tenantName) + _basePath;

    // Scim:PublicBaseUrl without its trailing slash, or null: locations from the request's Host.
    private readonly string? _publicBaseUrl;

    internal readonly record struct Route(Target Target, string? TenantName, string BaseUrl, string? Id, IResourceEndpoint? Endpoint);

    /// <summary>
    /// SSF transmitter metadata for the issuer at <paramref name="issuerPath"/> (the path after
    /// /.well-known/ssf-configuration: <c>/tenants/{name}</c> and the base path); public.
    /// </summary>
    internal Task EventsMetadataAsync(HttpContext context, PathString issuerPath)
    {
        var path = issuerPath.Value.AsSpan();
        string? tenantName = null;
        if (path.StartsWith(TenantsPrefix, StringComparison.Ordinal))
        {
            var rest = path[TenantsPrefix.Length..];
            int slash = rest.IndexOf('/');
            if (slash <= 0 || !TenantDirectory.IsValidName(rest[..slash].ToString()))
            {
                return ScimResponses.Error(context, StatusCodes.Status404NotFound, "No SSF transmitter at this path.");
            }

            tenantName = rest[..slash].ToString();
            path = rest[slash..];
        }

        if (!path.TrimEnd('/').Equals(_basePath, StringComparison.OrdinalIgnoreCase) || !HttpMethods.IsGet(context.Request.Method))
        {
            return ScimResponses.Error(context, StatusCodes.Status404NotFound, "No SSF transmitter at this path.");
        }

        return Server.Events.EventEndpoints.WriteMetadataAsync(context, BaseUrl(context.Request, tenantName));
    }

    /// <summary>The hand matcher: target, tenant, base URL, id (internal for the routing benchmark).</summary>
    internal Route Resolve(HttpContext context)
    {
        var path = (context.Request.Path.Value ?? "").AsSpan();
        string? tenantName = null;
        var notFound = new Route(Target.NotFound, null, "", null, null);
        if (path.StartsWith(TenantsPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var rest = path[TenantsPrefix.Length..];
            int slash = rest.IndexOf('/');
            if (slash <= 0 || !TenantDirectory.IsValidName(rest[..slash].ToString()))
            {
                return notFound;
            }

            tenantName = rest[..slash].ToString();
            path = rest[slash..];
        }

        if (!path.StartsWith(_basePath, StringComparison.OrdinalIgnoreCase)
            || (path.Length > _basePath.Length && path[_basePath.Length] != '/'))
        {
            return notFound;
        }

        var rest2 = path[_basePath.Length..].TrimEnd('/');
        if (rest2.IsEmpty)
        {
            return notFound;
        }

        rest2 = rest2[1..];
        int separator = rest2.IndexOf('/');
        var endpoint = separator < 0 ? rest2 : rest2[..separator];
        // Request.Path is already percent-decoded by ASP.NET Core; decoding again would change ids.
        string? id = separator < 0 ? null : rest2[(separator + 1)..].ToString();
        string baseUrl = BaseUrl(context.Request, tenantName);

        Target target;
        IResourceEndpoint? resourceEndpoint = null;
        if (endpoint.Equals("ServiceProviderConfig", StringComparison.OrdinalIgnoreCase) && id is null)
        {
            target = Target.ServiceProviderConfig;
        }
        else if (endpoint.Equals("ResourceTypes", StringComparison.OrdinalIgnoreCase))
        {
            target = Target.ResourceTypes;
        }
        else if (endpoint.Equals("Schemas", StringComparison.OrdinalIgnoreCase))
        {
            target = Target.Schemas;
        }
        else if (endpoint.Equals("Bulk", StringComparison.OrdinalIgnoreCase) && id is null)
        {
            target = Target.Bulk;
        }
        else if (endpoint.Equals(".search", StringComparison.OrdinalIgnoreCase) && id is null)
        {
            target = Target.RootSearch;
        }
        else if (endpoint.Equals("Me", StringComparison.OrdinalIgnoreCase))
        {
            target = Target.Me;
        }
        else if (endpoint.Equals(Server.Events.EventEndpoints.Segment, StringComparison.Ordinal) && Events is not null && id is { Length: > 0 })
        {
            target = id == "jwks" ? Target.EventKeys : Target.Events;
        }
        else
        {
            target = Target.NotFound;
            foreach (var candidate in _endpoints)
            {
                if (endpoint.Equals(candidate.EndpointName, StringComparison.OrdinalIgnoreCase))
                {
                    resourceEndpoint = candidate;
                    target = id is null ? Target.Collection
                        : id.Equals(".search", StringComparison.Ordinal) ? Target.Search
                        : id.Length == 0 || id.Contains('/', StringComparison.Ordinal) ? Target.NotFound
                        : Target.Item;
                    break;
                }
            }
        }

        return target == Target.NotFound ? notFound : new Route(target, tenantName, baseUrl, id, resourceEndpoint);
    }
}
