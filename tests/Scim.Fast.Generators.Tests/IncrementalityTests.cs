using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

using static Scim.Fast.Generators.Tests.GeneratorHarness;

namespace Scim.Fast.Generators.Tests;

/// <summary>The pipeline caches: unrelated edits regenerate nothing (tracked step reasons).</summary>
public sealed class IncrementalityTests
{
    private static readonly string[] s_steps =
    [
        ScimSchemaGenerator.TrackingNames.ParsedSchemaFiles,
        ScimSchemaGenerator.TrackingNames.GenerationModel,
    ];

    [Fact]
    public void UnrelatedCSharpEdit_RegeneratesNothing()
    {
        var compilation = Compilation("namespace App; public static class A { }");
        var driver = Driver(CoreFiles()).RunGenerators(compilation);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace App; public static class B { public static int X => 1; }", new CSharpParseOptions(LanguageVersion.Preview)));
        var result = driver.RunGenerators(edited).GetRunResult().Results[0];

        foreach (var step in s_steps)
        {
            var outputs = result.TrackedSteps[step].SelectMany(s => s.Outputs);
            Assert.All(outputs, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {o.Reason}"));
        }

        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void EditingOneSchemaFile_ReparsesOnlyThatFile()
    {
        var files = CoreFiles();
        var compilation = Compilation("namespace App; public static class A { }");
        var driver = Driver(files).RunGenerators(compilation);

        var group = files.Single(f => f.Path.EndsWith("Group.json", StringComparison.Ordinal));
        string edited = group.GetText()!.ToString().Replace("A human-readable name for the Group.", "A human-readable group name.", StringComparison.Ordinal);
        Assert.NotEqual(group.GetText()!.ToString(), edited);
        driver = driver.ReplaceAdditionalText(group, new InMemoryAdditionalText(group.Path, edited));
        var result = driver.RunGenerators(compilation).GetRunResult().Results[0];

        var reasons = result.TrackedSteps[ScimSchemaGenerator.TrackingNames.ParsedSchemaFiles].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
        Assert.Equal(1, reasons.Count(r => r is IncrementalStepRunReason.Modified or IncrementalStepRunReason.New));
        Assert.Equal(files.Length - 1, reasons.Count(r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
    }

    [Fact]
    public void SameSchemaTextInANewAdditionalText_KeepsTheModelUnchanged()
    {
        var files = CoreFiles();
        var compilation = Compilation("namespace App; public static class A { }");
        var driver = Driver(files).RunGenerators(compilation);

        var user = files.Single(f => f.Path.EndsWith("/User.json", StringComparison.Ordinal));
        driver = driver.ReplaceAdditionalText(user, new InMemoryAdditionalText(user.Path, user.GetText()!.ToString()));
        var result = driver.RunGenerators(compilation).GetRunResult().Results[0];

        // Same text in a new AdditionalText object: the parsed spec compares equal, so nothing downstream runs.
        var model = result.TrackedSteps[ScimSchemaGenerator.TrackingNames.GenerationModel].SelectMany(s => s.Outputs);
        Assert.All(model, o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
    }
}
