using System;
using System.Collections.Immutable;
using System.IO;
using System.Threading;

using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

using Scim.Fast.Generators.Model;

namespace Scim.Fast.Generators;

/// <summary>
/// Compiles SCIM schema and resource type JSON (RFC 7643 §6, §7), given as AdditionalFiles, into
/// typed models, allocation-light UTF-8 readers and writers, and the schema tables the runtime uses.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class ScimSchemaGenerator : IIncrementalGenerator
{
    /// <summary>Tracking names of the pipeline steps, for incrementality tests.</summary>
    public static class TrackingNames
    {
        public const string SchemaFiles = nameof(SchemaFiles);
        public const string ParsedSchemaFiles = nameof(ParsedSchemaFiles);
        public const string Namespace = nameof(Namespace);
        public const string GenerationModel = nameof(GenerationModel);
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // 1. Every .json AdditionalFile is a candidate schema or resource type document.
        var files = context.AdditionalTextsProvider
            .Where(static file => file.Path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            .WithTrackingName(TrackingNames.SchemaFiles);

        // 2. Parse each file on its own into an equatable spec: an edit to one file re-parses one file.
        var parsed = files
            .Select(static (file, cancellationToken) => Parser.ParseFile(file.Path, file.GetText(cancellationToken)))
            .WithTrackingName(TrackingNames.ParsedSchemaFiles);

        // 3. The namespace of the generated types, from the ScimGeneratedNamespace MSBuild property.
        var rootNamespace = context.AnalyzerConfigOptionsProvider
            .Select(static (options, _) =>
                options.GlobalOptions.TryGetValue("build_property.ScimGeneratedNamespace", out var ns) && !string.IsNullOrWhiteSpace(ns)
                    ? ns.Trim()
                    : options.GlobalOptions.TryGetValue("build_property.RootNamespace", out var root) && !string.IsNullOrWhiteSpace(root)
                        ? root.Trim() + ".Scim"
                        : "Scim.Generated")
            .WithTrackingName(TrackingNames.Namespace);

        // 4. Combine all files: resolve resource types against schemas, check cross-file rules.
        var model = parsed.Collect()
            .Combine(rootNamespace)
            .Select(static (input, _) => Parser.Combine(input.Left, input.Right))
            .WithTrackingName(TrackingNames.GenerationModel);

        // 5. Diagnostics and sources are two outputs of the one model.
        context.RegisterSourceOutput(model, static (spc, spec) => Emit(spc, spec));
    }

    private static void Emit(SourceProductionContext context, GenerationSpec spec)
    {
        foreach (var diagnostic in spec.Diagnostics)
        {
            context.ReportDiagnostic(Diagnostic.Create(
                DiagnosticDescriptors.ById(diagnostic.Id),
                diagnostic.Location.ToLocation(),
                [.. diagnostic.Arguments]));
        }

        foreach (var (hintName, source) in Emitter.EmitAll(spec, context.CancellationToken))
        {
            context.AddSource(hintName, SourceText.From(source, System.Text.Encoding.UTF8));
        }
    }
}
