using Scim.Fast.Server;

// Scim.Fast: a SCIM 2.0 service provider (RFC 7643, RFC 7644). See README.md for configuration.
WebApplication app;
try
{
    app = ScimServer.Create(args);
}
catch (InvalidDataException e)
{
    // A store on disk that cannot be recovered without losing what it held (files missing, cut
    // short or damaged): the operator's next step is in the message, a stack trace adds nothing.
    Console.Error.WriteLine("Scim.Fast cannot start: " + e.Message);
    return 1;
}

app.Run();
return 0;
