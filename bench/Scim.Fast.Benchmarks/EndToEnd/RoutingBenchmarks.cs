using BenchmarkDotNet.Attributes;

using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;

namespace Scim.Fast.Benchmarks.EndToEnd;

/// <summary>
/// Routing a SCIM path: ASP.NET Core's route template matcher (the templates this server would
/// register, tried in order) against the server's hand matcher, which also resolves the tenant
/// and builds the base URL.
/// </summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private static readonly string[] s_paths =
    [
        "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
        "/scim/v2/Users",
        "/scim/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
        "/tenants/acme/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
        "/scim/v2/ServiceProviderConfig",
    ];

    private ServerHost _host = null!;
    private DefaultHttpContext[] _contexts = [];
    private TemplateMatcher[] _matchers = [];

    [GlobalSetup]
    public void Setup()
    {
        _host = new ServerHost();
        _contexts = [.. s_paths.Select(p => ServerHost.Context("GET", p))];
        _matchers =
        [
            .. new[]
            {
                "scim/v2/ServiceProviderConfig", "scim/v2/ResourceTypes/{id?}", "scim/v2/Schemas/{id?}", "scim/v2/Bulk", "scim/v2/.search",
                "scim/v2/Users/.search", "scim/v2/Users/{id?}", "scim/v2/Groups/.search", "scim/v2/Groups/{id?}",
                "tenants/{tenant}/scim/v2/Users/{id?}", "tenants/{tenant}/scim/v2/Groups/{id?}",
            }.Select(t => new TemplateMatcher(TemplateParser.Parse(t), new RouteValueDictionary())),
        ];
    }

    [GlobalCleanup]
    public void Cleanup() => _host.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true, Description = "ASP.NET TemplateMatcher")]
    public int TemplateMatching()
    {
        int matched = 0;
        foreach (var context in _contexts)
        {
            var values = new RouteValueDictionary();
            foreach (var matcher in _matchers)
            {
                if (matcher.TryMatch(context.Request.Path, values))
                {
                    matched++;
                    break;
                }
            }
        }

        return matched;
    }

    [Benchmark(Description = "hand matcher (+ tenant, base URL)")]
    public int HandMatching()
    {
        int matched = 0;
        foreach (var context in _contexts)
        {
            if (_host.Handler.Resolve(context).Target != Scim.Fast.Server.ScimRequestHandler.Target.NotFound)
            {
                matched++;
            }
        }

        return matched;
    }
}
