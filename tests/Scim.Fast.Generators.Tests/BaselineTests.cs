using static Scim.Fast.Generators.Tests.GeneratorHarness;

namespace Scim.Fast.Generators.Tests;

/// <summary>
/// The generated source for the example extension, compared with committed baselines. To accept a
/// deliberate change: run with SCIM_UPDATE_BASELINES=1 and review the diff of Baselines/.
/// </summary>
public sealed class BaselineTests
{
    [Theory]
    [InlineData("AcmeUser.g.cs")]
    [InlineData("UserSerializer.g.cs")]
    [InlineData("ScimResourceTypes.g.cs")]
    [InlineData("UserAccessor.g.cs")]
    [InlineData("UserEditor.g.cs")]
    [InlineData("UserIndexes.g.cs")]
    public void ExampleExtension_GeneratesTheBaselineSource(string file)
    {
        var (run, compile) = Run(ExampleFiles());
        Assert.Empty(run.Diagnostics);
        Assert.Empty(compile);

        string actual = run.GeneratedTrees.Single(t => t.FilePath.EndsWith(file, StringComparison.Ordinal)).ToString();
        string baselinePath = Path.Combine(RepoRoot, "tests", "Scim.Fast.Generators.Tests", "Baselines", file + ".txt");
        if (Environment.GetEnvironmentVariable("SCIM_UPDATE_BASELINES") == "1")
        {
            // Rewriting and then comparing would always pass: an update run fails on purpose, so a
            // changed baseline is only ever accepted by a reviewed diff and a run without the flag.
            bool changed = !File.Exists(baselinePath) || File.ReadAllText(baselinePath).ReplaceLineEndings("\n") != actual.ReplaceLineEndings("\n");
            File.WriteAllText(baselinePath, actual);
            Assert.Fail(changed ? $"{file}: baseline rewritten; review the diff and run again without SCIM_UPDATE_BASELINES." : $"{file}: baseline unchanged; run without SCIM_UPDATE_BASELINES.");
        }

        Assert.True(File.Exists(baselinePath), $"No baseline at {baselinePath}; run with SCIM_UPDATE_BASELINES=1 to create it.");
        Assert.Equal(File.ReadAllText(baselinePath).ReplaceLineEndings("\n"), actual.ReplaceLineEndings("\n"));
    }
}
