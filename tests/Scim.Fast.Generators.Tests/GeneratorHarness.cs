using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;

using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace Scim.Fast.Generators.Tests;

/// <summary>Runs the generator in memory over schema files, as the compiler would.</summary>
internal static class GeneratorHarness
{
    public const string Namespace = "Test.Generated";

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
    [
        .. ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).Select(p => MetadataReference.CreateFromFile(p)),
        MetadataReference.CreateFromFile(typeof(Scim.Fast.Core.Schema.ScimAttribute).Assembly.Location),
    ]);

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string SchemaFile(string relative) => Path.Combine(RepoRoot, "schemas", relative);

    public static InMemoryAdditionalText SchemaText(string relativeToSchemas) =>
        new(SchemaFile(relativeToSchemas), System.IO.File.ReadAllText(SchemaFile(relativeToSchemas)));

    /// <summary>The shipped core schemas: User, Group, EnterpriseUser and their resource types.</summary>
    public static InMemoryAdditionalText[] CoreFiles() =>
        [SchemaText("User.json"), SchemaText("Group.json"), SchemaText("EnterpriseUser.json"), SchemaText("ResourceTypes.json")];

    /// <summary>The core schemas plus the example extension, with the resource types that enable it.</summary>
    public static InMemoryAdditionalText[] ExampleFiles() =>
        [SchemaText("User.json"), SchemaText("Group.json"), SchemaText("EnterpriseUser.json"), SchemaText("examples/AcmeUser.json"), SchemaText("examples/ResourceTypes.json"),
         SchemaText("indexes/User.json"), SchemaText("indexes/Group.json")];

    public static CSharpCompilation Compilation(params string[] sources) => CSharpCompilation.Create(
        "GeneratorTest",
        sources.Select(s => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Preview))),
        s_references.Value,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver Driver(params AdditionalText[] files) => CSharpGeneratorDriver.Create(
        [new ScimSchemaGenerator().AsSourceGenerator()],
        files,
        new CSharpParseOptions(LanguageVersion.Preview),
        new OptionsProvider(Namespace),
        new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator and compiles its output; returns generator diagnostics and the compiled result.</summary>
    public static (GeneratorDriverRunResult Run, ImmutableArray<Diagnostic> CompileDiagnostics) Run(params AdditionalText[] files)
    {
        var driver = Driver(files).RunGeneratorsAndUpdateCompilation(Compilation("namespace Placeholder; internal static class Empty { }"), out var output, out _);
        var compileDiagnostics = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToImmutableArray();
        return (driver.GetRunResult(), compileDiagnostics);
    }

    private static string FindRepoRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !System.IO.File.Exists(Path.Combine(directory.FullName, "Scim.Fast.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Scim.Fast.sln not found above " + AppContext.BaseDirectory);
    }

    internal sealed class InMemoryAdditionalText : AdditionalText
    {
        private readonly SourceText _text;

        public InMemoryAdditionalText(string path, string text)
        {
            Path = path;
            _text = SourceText.From(text);
        }

        public override string Path { get; }

        public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
    }

    private sealed class OptionsProvider(string ns) : AnalyzerConfigOptionsProvider
    {
        public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(ns);

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => GlobalOptions;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => GlobalOptions;

        private sealed class Options(string ns) : AnalyzerConfigOptions
        {
            public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value)
            {
                value = key == "build_property.ScimGeneratedNamespace" ? ns : null;
                return value is not null;
            }
        }
    }
}
