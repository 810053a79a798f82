using Scim.Fast.Server;

// Scim.Fast: a SCIM 2.0 service provider (RFC 7643, RFC 7644). See README.md for configuration.
var app = ScimServer.Create(args);
app.Run();
