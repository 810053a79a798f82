using Microsoft.CodeAnalysis;

namespace Scim.Fast.Generators;

public sealed partial class ScimSchemaGenerator
{
    // Every schema mistake is a compiler error that names the file and line; IDs are tracked in
    // AnalyzerReleases.Unshipped.md.
    internal static class DiagnosticDescriptors
    {
        private const string Category = "ScimSchema";

        public static readonly DiagnosticDescriptor InvalidJson = Create(
            "SCIM001", "Schema file is not valid JSON", "'{0}' is not valid JSON: {1}");

        public static readonly DiagnosticDescriptor UnknownType = Create(
            "SCIM002", "Unknown attribute type", "Attribute '{0}' has type '{1}'; RFC 7643 §2.3 allows string, boolean, decimal, integer, dateTime, binary, reference and complex");

        public static readonly DiagnosticDescriptor DuplicateAttribute = Create(
            "SCIM003", "Duplicate attribute name", "Attribute '{0}' is defined more than once (names are case-insensitive, RFC 7643 §2.1)");

        public static readonly DiagnosticDescriptor MissingMember = Create(
            "SCIM004", "Missing required member", "{0} has no '{1}'");

        public static readonly DiagnosticDescriptor InvalidComplex = Create(
            "SCIM005", "Invalid complex attribute", "Attribute '{0}': {1}");

        public static readonly DiagnosticDescriptor InvalidCharacteristic = Create(
            "SCIM006", "Invalid characteristic value", "Attribute '{0}' has {1} '{2}'; expected one of {3}");

        public static readonly DiagnosticDescriptor UnknownSchema = Create(
            "SCIM007", "Resource type names an unknown schema", "Resource type '{0}' names schema '{1}', which no schema file defines");

        public static readonly DiagnosticDescriptor NotASchemaDocument = Create(
            "SCIM008", "Not a schema or resource type document", "'{0}' is neither a schema (RFC 7643 §7) nor a resource type (§6): {1}");

        public static readonly DiagnosticDescriptor DuplicateDefinition = Create(
            "SCIM009", "Duplicate schema or resource type", "{0} '{1}' is defined more than once");

        public static readonly DiagnosticDescriptor InvalidAttributeName = Create(
            "SCIM010", "Invalid attribute name", "Attribute name '{0}' is not an ATTRNAME of RFC 7643 §2.1 (a letter, then letters, digits, '-' or '_')");

        public static readonly DiagnosticDescriptor CommonAttributeInSchema = Create(
            "SCIM011", "Common attribute listed in a schema", "'{0}' is a common attribute every resource has (RFC 7643 §3.1); remove it from the schema");

        public static readonly DiagnosticDescriptor ReservedName = Create(
            "SCIM012", "Reserved name", "{0} '{1}' would generate the C# type '{2}', which is reserved by Scim.Fast; choose another name");

        public static readonly DiagnosticDescriptor InvalidSchemaId = Create(
            "SCIM013", "Invalid schema id", "Schema id '{0}' must be a URN ('urn:…') of printable ASCII without spaces, quotes or backslashes");

        public static readonly DiagnosticDescriptor UnknownIndexAttribute = Create(
            "SCIM014", "Index names an unknown attribute", "Index '{0}' of resource type '{1}' names '{2}', which is not an attribute of it");

        public static readonly DiagnosticDescriptor InvalidIndex = Create(
            "SCIM015", "Invalid index declaration", "Index '{0}' of resource type '{1}': {2}");

        public static DiagnosticDescriptor ById(string id) => id switch
        {
            "SCIM001" => InvalidJson,
            "SCIM002" => UnknownType,
            "SCIM003" => DuplicateAttribute,
            "SCIM004" => MissingMember,
            "SCIM005" => InvalidComplex,
            "SCIM006" => InvalidCharacteristic,
            "SCIM007" => UnknownSchema,
            "SCIM008" => NotASchemaDocument,
            "SCIM009" => DuplicateDefinition,
            "SCIM011" => CommonAttributeInSchema,
            "SCIM012" => ReservedName,
            "SCIM013" => InvalidSchemaId,
            "SCIM014" => UnknownIndexAttribute,
            "SCIM015" => InvalidIndex,
            _ => InvalidAttributeName,
        };

        private static DiagnosticDescriptor Create(string id, string title, string message) =>
            new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
    }
}
