using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Scim.Fast.Server;

/// <summary>Builds the Scim.Fast web application; Program.cs and the tests both start it from here.</summary>
public static class ScimServer
{
    /// <summary>Where the server listens when neither --urls nor ASPNETCORE_URLS says otherwise.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static WebApplication Create(string[] args)
    {
        // 1. Configuration: appsettings.json, environment variables, command line (ASP.NET Core order).
        var builder = WebApplication.CreateSlimBuilder(args);
        var options = new ScimServerOptions();
        builder.Configuration.GetSection("Scim").Bind(options);
        options.Validate();

        // 2. Kestrel on loopback by default: exposing the server is a deliberate --urls choice.
        if (string.IsNullOrEmpty(builder.Configuration[WebHostDefaults.ServerUrlsKey]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        var app = builder.Build();

        // 3. A liveness probe outside the SCIM base path, for load balancers.
        var handler = new ScimRequestHandler(options);
        app.Run(context =>
        {
            if (context.Request.Path.Equals("/healthz", StringComparison.Ordinal))
            {
                context.Response.ContentType = "text/plain";
                return context.Response.WriteAsync("ok");
            }

            // 4. Everything else is SCIM, routed by hand.
            return handler.HandleAsync(context);
        });

        app.Lifetime.ApplicationStarted.Register(() =>
            app.Logger.LogInformation("Scim.Fast listening on {Urls}, SCIM base path {BasePath}", string.Join(", ", app.Urls), options.BasePath));
        return app;
    }
}
