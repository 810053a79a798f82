using System.Text.Json;

using Scim.Fast.Tests.Shared;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// The server process's runtime settings, as built (its runtimeconfig.json, generated from the
/// .csproj). Each was measured (README, "A fresh server's first seconds"); losing one would show
/// only as a slower sync, so it is checked here.
/// </summary>
public sealed class RuntimeSettingsTests
{
    [Fact]
    public void TheBuiltServer_UsesServerGc_AndCountsCallsTowardTier1FromTheStart()
    {
        string path = Path.ChangeExtension(ServerProcess.BuiltServerPath(), ".runtimeconfig.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var properties = document.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.Equal(0, properties.GetProperty("System.Runtime.TieredCompilation.CallCountingDelayMs").GetInt32());
        Assert.True(properties.GetProperty("System.GC.Server").GetBoolean());
    }
}
