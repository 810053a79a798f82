using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Discovery;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Schema;

namespace Scim.Fast.Server;

/// <summary>
/// Routes SCIM requests by hand (no MVC, no model binding). For now it serves the discovery
/// endpoints of RFC 7644 §4; the resource endpoints answer 501 until the store lands.
/// </summary>
internal sealed class ScimRequestHandler
{
    private readonly string _basePath;
    private readonly IReadOnlyList<ScimSchema> _schemas;

    public ScimRequestHandler(ScimServerOptions options)
    {
        _basePath = options.BasePath;
        _schemas = ScimDiscoveryWriter.DistinctSchemas(ScimResourceTypes.All);
    }

    /// <summary>
    /// What this build supports, and so what /ServiceProviderConfig says (RFC 7643 §5): nothing
    /// beyond discovery yet, and the document must not claim more.
    /// </summary>
    public static ScimFeatures Features { get; } = new() { FilterMaxResults = 0 };

    public Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (!path.StartsWith(_basePath, StringComparison.OrdinalIgnoreCase)
            || (path.Length > _basePath.Length && path[_basePath.Length] != '/'))
        {
            return ScimResponses.Error(context, StatusCodes.Status404NotFound, "No SCIM endpoint at this path.");
        }

        var route = path.AsSpan(_basePath.Length).TrimEnd('/');
        if (route.IsEmpty)
        {
            return ScimResponses.Error(context, StatusCodes.Status404NotFound, "No SCIM endpoint at the base path itself.");
        }

        route = route[1..];
        int slash = route.IndexOf('/');
        var endpoint = slash < 0 ? route : route[..slash];
        // Request.Path is already percent-decoded by ASP.NET Core; decoding again would change ids.
        string? id = slash < 0 ? null : route[(slash + 1)..].ToString();

        if (endpoint.Equals("ServiceProviderConfig", StringComparison.OrdinalIgnoreCase) && id is null)
        {
            return OnlyGet(context, () => ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteServiceProviderConfig(w, Features, BaseUrl(context))));
        }

        if (endpoint.Equals("ResourceTypes", StringComparison.OrdinalIgnoreCase))
        {
            return OnlyGet(context, () => ResourceTypes(context, id));
        }

        if (endpoint.Equals("Schemas", StringComparison.OrdinalIgnoreCase))
        {
            return OnlyGet(context, () => Schemas(context, id));
        }

        if (IsPlannedEndpoint(endpoint))
        {
            // RFC 7644 §3.12: 501 for an operation the service provider does not (yet) support.
            return ScimResponses.Error(context, StatusCodes.Status501NotImplemented, "This endpoint is not implemented by this build of Scim.Fast yet.");
        }

        return ScimResponses.Error(context, StatusCodes.Status404NotFound, "No SCIM endpoint at this path.");
    }

    private static bool IsPlannedEndpoint(ReadOnlySpan<char> endpoint)
    {
        foreach (var resourceType in ScimResourceTypes.All)
        {
            if (endpoint.Equals(resourceType.Endpoint.AsSpan().TrimStart('/'), StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return endpoint.Equals("Bulk", StringComparison.OrdinalIgnoreCase)
            || endpoint.Equals(".search", StringComparison.OrdinalIgnoreCase)
            || endpoint.Equals("Me", StringComparison.OrdinalIgnoreCase);
    }

    private static Task OnlyGet(HttpContext context, Func<Task> handle)
    {
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
        {
            return handle();
        }

        // RFC 7644 §4: the discovery endpoints are read-only.
        context.Response.Headers.Allow = "GET, HEAD";
        return ScimResponses.Error(context, StatusCodes.Status405MethodNotAllowed, "Discovery endpoints only answer GET.");
    }

    private Task ResourceTypes(HttpContext context, string? id)
    {
        string baseUrl = BaseUrl(context);
        if (id is null)
        {
            return ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteListResponse(w, ScimResourceTypes.All, (x, r) => ScimDiscoveryWriter.WriteResourceType(x, r, baseUrl)));
        }

        foreach (var resourceType in ScimResourceTypes.All)
        {
            if (string.Equals(resourceType.Id, id, StringComparison.OrdinalIgnoreCase))
            {
                return ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteResourceType(w, resourceType, baseUrl));
            }
        }

        return ScimResponses.Error(context, StatusCodes.Status404NotFound, "No such resource type.");
    }

    private Task Schemas(HttpContext context, string? id)
    {
        string baseUrl = BaseUrl(context);
        if (id is null)
        {
            return ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteListResponse(w, _schemas, (x, s) => ScimDiscoveryWriter.WriteSchema(x, s, baseUrl)));
        }

        foreach (var schema in _schemas)
        {
            if (string.Equals(schema.Id, id, StringComparison.OrdinalIgnoreCase))
            {
                return ScimResponses.Json(context, w => ScimDiscoveryWriter.WriteSchema(w, schema, baseUrl));
            }
        }

        return ScimResponses.Error(context, StatusCodes.Status404NotFound, "No such schema.");
    }

    private string BaseUrl(HttpContext context) =>
        context.Request.Scheme + "://" + context.Request.Host.Value + context.Request.PathBase.Value + _basePath;
}
