using Scim.Fast.Server;

// Scim.Fast: a SCIM 2.0 service provider (RFC 7643, RFC 7644). See README.md for configuration.
// What stops a start for a reason the operator must fix is said in one line, with exit code 1: a
// stack trace adds nothing to either.
WebApplication app;
try
{
    app = ScimServer.Create(args);
}
catch (Exception e) when (e is InvalidDataException or ScimConfigurationException or ScimStartException)
{
    // A store on disk that cannot be recovered without losing what it held (files missing, cut
    // short or damaged), a setting that cannot work, a data directory that cannot be made or a
    // Redis store out of reach: the message names it and the next step.
    return CannotStart(e);
}

try
{
    app.Run();
}
catch (IOException e) when (e.Message.StartsWith("Failed to bind to address", StringComparison.Ordinal))
{
    // Kestrel's message names the address and why (another process listens there).
    return CannotStart(e);
}

return 0;

static int CannotStart(Exception e)
{
    Console.Error.WriteLine("Scim.Fast cannot start: " + e.Message);
    return 1;
}
