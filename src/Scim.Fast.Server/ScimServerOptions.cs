namespace Scim.Fast.Server;

/// <summary>The "Scim" configuration section (see appsettings.json for the commented defaults).</summary>
public sealed class ScimServerOptions
{
    /// <summary>Base path of the SCIM endpoints, without a trailing slash. Default <c>/scim/v2</c>.</summary>
    public string BasePath { get; set; } = "/scim/v2";

    /// <summary>Throws when a value cannot work, so a bad configuration stops the server at start.</summary>
    public void Validate()
    {
        if (!BasePath.StartsWith('/') || BasePath.EndsWith('/') || BasePath.Contains('?', StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"Scim:BasePath must start with '/' and not end with '/': '{BasePath}'.");
        }
    }
}
