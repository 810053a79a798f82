using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;

using Microsoft.CodeAnalysis.Text;

using Scim.Fast.Generators.Json;
using Scim.Fast.Generators.Model;

namespace Scim.Fast.Generators;

public sealed partial class ScimSchemaGenerator
{
    /// <summary>Schema JSON → equatable specs plus diagnostics. Never throws for bad input.</summary>
    internal static partial class Parser
    {
        private const string SchemaUrn = "urn:ietf:params:scim:schemas:core:2.0:Schema";
        private const string ResourceTypeUrn = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

        // Not a SCIM URN: the index catalogue is Scim.Fast's own document (DESIGN-NOTES §8).
        private const string CatalogueUrn = "urn:scim-fast:index-catalogue";

        private static readonly string[] s_types = ["string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"];
        private static readonly string[] s_mutability = ["readOnly", "readWrite", "immutable", "writeOnly"];
        private static readonly string[] s_returned = ["always", "never", "default", "request"];
        private static readonly string[] s_uniqueness = ["none", "server", "global"];

        // Generated types live next to these runtime and framework names in one file: a schema
        // named like one of them would shadow it.
        private static readonly HashSet<string> s_reservedTypeNames = new(StringComparer.OrdinalIgnoreCase)
        {
            "ScimResourceTypes", "ScimResourceType", "ScimResourceSerializer", "ScimSchema", "ScimSchemaExtension",
            "ScimAttribute", "ScimAttributeType", "ScimMutability", "ScimReturned", "ScimUniqueness", "ScimMeta",
            "ScimError", "ScimErrorType", "ScimReadOptions", "ScimProjection", "ScimJsonWriter", "ScimJsonRead",
            "IScimResource", "Math", "List", "DateTimeOffset", "Utf8JsonReader", "JsonTokenType", "JsonException",
            "ReadOnlySequence", "ReadOnlySpan", "CollectionsMarshal", "InvalidOperationException", "NotNullWhen",
            "String", "Object", "All",
        };

        // RFC 7643 §3.1: present on every resource, defined by the server, never by a schema file.
        private static readonly HashSet<string> s_commonAttributes = new(StringComparer.OrdinalIgnoreCase) { "id", "externalId", "meta", "schemas" };

        public static SchemaFileSpec ParseFile(string path, SourceText? text)
        {
            var context = new FileContext(path, text);
            var schemas = new List<SchemaSpec>();
            var resourceTypes = new List<ResourceTypeSpec>();
            var catalogues = new List<IndexCatalogueSpec>();
            if (text is null)
            {
                context.Report(DiagnosticDescriptors.InvalidJson.Id, 0, 1, path, "the file could not be read");
                return context.ToSpec(schemas, resourceTypes, catalogues);
            }

            JsonValue root;
            try
            {
                root = JsonParser.Parse(text.ToString());
            }
            catch (JsonParseException e)
            {
                context.Report(DiagnosticDescriptors.InvalidJson.Id, e.Offset, 1, System.IO.Path.GetFileName(path), e.Message);
                return context.ToSpec(schemas, resourceTypes, catalogues);
            }

            // A file holds one document or an array of them (RFC 7643 §8.6 and §8.7 show arrays).
            var documents = root is JsonArray array ? array.Items : [root];
            foreach (var document in documents)
            {
                if (document is not JsonObject obj)
                {
                    context.Report(DiagnosticDescriptors.NotASchemaDocument.Id, document.Start, 1, System.IO.Path.GetFileName(path), "expected a JSON object");
                    continue;
                }

                var kind = Classify(obj);
                if (kind == CatalogueUrn)
                {
                    if (ParseCatalogue(context, obj) is { } catalogue)
                    {
                        catalogues.Add(catalogue);
                    }
                }
                else if (kind == SchemaUrn)
                {
                    if (ParseSchema(context, obj) is { } schema)
                    {
                        schemas.Add(schema);
                    }
                }
                else if (kind == ResourceTypeUrn)
                {
                    if (ParseResourceType(context, obj) is { } resourceType)
                    {
                        resourceTypes.Add(resourceType);
                    }
                }
                else
                {
                    context.Report(DiagnosticDescriptors.NotASchemaDocument.Id, obj.Start, 1, System.IO.Path.GetFileName(path), "it has neither 'attributes' nor 'endpoint'");
                }
            }

            return context.ToSpec(schemas, resourceTypes, catalogues);
        }

        public static GenerationSpec Combine(ImmutableArray<SchemaFileSpec> files, string rootNamespace)
        {
            var diagnostics = new List<DiagnosticInfo>();
            var schemas = new List<SchemaSpec>();
            var schemaIds = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            // Hint names (one file per type) compare case-insensitively, so class names must too.
            var classNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var file in files)
            {
                diagnostics.AddRange(file.Diagnostics);
                foreach (var schema in file.Schemas)
                {
                    string typeName = Names.TypeName(schema.Name);
                    if (s_reservedTypeNames.Contains(typeName) || typeName.EndsWith("Serializer", StringComparison.OrdinalIgnoreCase))
                    {
                        diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.ReservedName.Id, schema.Location, new[] { "Schema name", schema.Name, typeName }.ToEquatableArray()));
                    }
                    else if (!schemaIds.Add(schema.Id))
                    {
                        diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.DuplicateDefinition.Id, schema.Location, new[] { "Schema", schema.Id }.ToEquatableArray()));
                    }
                    else if (!classNames.Add(Names.TypeName(schema.Name)))
                    {
                        diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.DuplicateDefinition.Id, schema.Location, new[] { "Schema name", schema.Name }.ToEquatableArray()));
                    }
                    else
                    {
                        schemas.Add(schema);
                    }
                }
            }

            var resourceTypes = new List<ResourceTypeSpec>();
            var resourceTypeIds = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var file in files)
            {
                foreach (var resourceType in file.ResourceTypes)
                {
                    string serializerName = Names.TypeName(resourceType.Name) + "Serializer";
                    if (s_reservedTypeNames.Contains(Names.TypeName(resourceType.Name)))
                    {
                        diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.ReservedName.Id, resourceType.Location, new[] { "Resource type name", resourceType.Name, Names.TypeName(resourceType.Name) }.ToEquatableArray()));
                        continue;
                    }

                    var extensionUrns = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { resourceType.Schema };
                    var repeated = resourceType.Extensions.FirstOrDefault(e => !extensionUrns.Add(e.Schema));
                    if (repeated is not null)
                    {
                        diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.DuplicateDefinition.Id, resourceType.Location, new[] { $"In resource type '{resourceType.Name}', schema", repeated.Schema }.ToEquatableArray()));
                        continue;
                    }

                    if (!resourceTypeIds.Add(resourceType.Id) || classNames.Contains(serializerName))
                    {
                        diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.DuplicateDefinition.Id, resourceType.Location, new[] { "Resource type", resourceType.Id }.ToEquatableArray()));
                        continue;
                    }

                    bool resolved = true;
                    foreach (var urn in new[] { resourceType.Schema }.Concat(resourceType.Extensions.Select(e => e.Schema)))
                    {
                        if (!schemaIds.Contains(urn) || !schemas.Any(s => string.Equals(s.Id, urn, StringComparison.OrdinalIgnoreCase)))
                        {
                            diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.UnknownSchema.Id, resourceType.Location, new[] { resourceType.Name, urn }.ToEquatableArray()));
                            resolved = false;
                        }
                    }

                    if (resolved && ExtensionMemberClash(schemas, resourceType) is { } clash)
                    {
                        // The extension becomes a member of the core class: its name must be free there.
                        diagnostics.Add(new DiagnosticInfo(DiagnosticDescriptors.ReservedName.Id, resourceType.Location, new[] { "Schema extension name", clash, Names.TypeName(clash) }.ToEquatableArray()));
                        resolved = false;
                    }

                    if (resolved)
                    {
                        classNames.Add(serializerName);
                        resourceTypes.Add(resourceType);
                    }
                }
            }

            var catalogues = CombineCatalogues(files, resourceTypes, diagnostics, schemas);
            return new GenerationSpec(rootNamespace, schemas.ToEquatableArray(), resourceTypes.ToEquatableArray(), catalogues.ToEquatableArray(), diagnostics.ToEquatableArray());
        }

        private static string? ExtensionMemberClash(List<SchemaSpec> schemas, ResourceTypeSpec resourceType)
        {
            var core = schemas.First(s => string.Equals(s.Id, resourceType.Schema, StringComparison.OrdinalIgnoreCase));
            var members = new HashSet<string>(StringComparer.Ordinal) { "Id", "ExternalId", "Meta", Names.TypeName(core.Name) };
            foreach (var attribute in core.Attributes)
            {
                members.Add(Names.TypeName(attribute.Name));
                members.Add(Names.TypeName(attribute.Name) + "Value");
            }

            foreach (var extension in resourceType.Extensions)
            {
                var schema = schemas.First(s => string.Equals(s.Id, extension.Schema, StringComparison.OrdinalIgnoreCase));
                if (!members.Add(Names.TypeName(schema.Name)))
                {
                    return schema.Name;
                }
            }

            return null;
        }

        private static string? Classify(JsonObject obj)
        {
            if (obj.Find("schemas")?.Value is JsonArray declared)
            {
                foreach (var item in declared.Items)
                {
                    if (item is JsonString { Value: SchemaUrn or ResourceTypeUrn or CatalogueUrn } urn)
                    {
                        return urn.Value;
                    }
                }
            }

            if (obj.Find("indexes") is not null)
            {
                return CatalogueUrn;
            }

            // RFC 7643 §8.7.1 shows schemas without a "schemas" member: recognise them by shape.
            if (obj.Find("attributes") is not null)
            {
                return SchemaUrn;
            }

            return obj.Find("endpoint") is not null ? ResourceTypeUrn : null;
        }

        private static SchemaSpec? ParseSchema(FileContext context, JsonObject obj)
        {
            string? id = context.RequireString(obj, "id", "Schema");
            if (id is null)
            {
                return null;
            }

            if (!IsValidSchemaId(id))
            {
                context.Report(DiagnosticDescriptors.InvalidSchemaId.Id, obj.Find("id")!.Value.Start, id.Length + 2, id);
                return null;
            }

            string name = context.OptionalString(obj, "name") ?? id.Substring(id.LastIndexOf(':') + 1);
            if (Names.TypeName(name).Length == 0)
            {
                context.Report(DiagnosticDescriptors.MissingMember.Id, obj.Start, 1, $"Schema '{id}'", "name");
                return null;
            }

            var attributes = ParseAttributes(context, obj.Find("attributes"), owner: null, obj.Start);
            return new SchemaSpec(id, name, context.OptionalString(obj, "description") ?? "", attributes, context.Location(obj.Start, 1));
        }

        // Schema ids go into generated code and JSON verbatim, so only URN-shaped printable ASCII.
        private static bool IsValidSchemaId(string id) =>
            id.StartsWith("urn:", StringComparison.OrdinalIgnoreCase) && id.Length > 4 && id.All(c => c > ' ' && c < 0x7F && c != '"' && c != '\\');

        private static EquatableArray<AttributeSpec> ParseAttributes(FileContext context, JsonMember? member, string? owner, int ownerStart)
        {
            var result = new List<AttributeSpec>();
            if (member is null)
            {
                context.Report(DiagnosticDescriptors.MissingMember.Id, ownerStart, 1, owner is null ? "Schema" : $"Attribute '{owner}'", owner is null ? "attributes" : "subAttributes");
                return result.ToEquatableArray();
            }

            if (member.Value is not JsonArray array)
            {
                context.Report(DiagnosticDescriptors.InvalidCharacteristic.Id, member.Value.Start, 1, owner ?? "(schema)", member.Name, "not an array", "a JSON array");
                return result.ToEquatableArray();
            }

            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

            // Distinct SCIM names can still map to one C# name ("x-y" and "xY" are both XY; "nameValue"
            // collides with the class of complex "name"): every generated identifier must be unique.
            var identifiers = new HashSet<string>(StringComparer.Ordinal);
            foreach (var item in array.Items)
            {
                if (item is not JsonObject attributeObject)
                {
                    context.Report(DiagnosticDescriptors.InvalidCharacteristic.Id, item.Start, 1, owner ?? "(schema)", member.Name, "a non-object item", "JSON objects");
                    continue;
                }

                if (ParseAttribute(context, attributeObject, owner) is not { } attribute)
                {
                    continue;
                }

                var nameMember = attributeObject.Find("name")!;
                if (owner is null && s_commonAttributes.Contains(attribute.Name))
                {
                    context.Report(DiagnosticDescriptors.CommonAttributeInSchema.Id, nameMember.Value.Start, attribute.Name.Length + 2, attribute.Name);
                    continue;
                }

                string property = Names.TypeName(attribute.Name);
                bool clash = !seen.Add(attribute.Name) || identifiers.Contains(property)
                    || (attribute.Type == "complex" && identifiers.Contains(property + "Value"));
                if (clash)
                {
                    context.Report(DiagnosticDescriptors.DuplicateAttribute.Id, nameMember.Value.Start, attribute.Name.Length + 2, Qualified(owner, attribute.Name));
                    continue;
                }

                identifiers.Add(property);
                if (attribute.Type == "complex")
                {
                    identifiers.Add(property + "Value");
                }

                result.Add(attribute);
            }

            return result.ToEquatableArray();
        }

        private static AttributeSpec? ParseAttribute(FileContext context, JsonObject obj, string? owner)
        {
            var nameMember = obj.Find("name");
            if (nameMember?.Value is not JsonString { Value.Length: > 0 } nameValue)
            {
                context.Report(DiagnosticDescriptors.MissingMember.Id, obj.Start, 1, owner is null ? "An attribute" : $"A sub-attribute of '{owner}'", "name");
                return null;
            }

            string name = nameValue.Value;
            string path = Qualified(owner, name);
            if (!Names.IsAttributeName(name))
            {
                context.Report(DiagnosticDescriptors.InvalidAttributeName.Id, nameValue.Start, name.Length + 2, name);
                return null;
            }

            var typeMember = obj.Find("type");
            if (typeMember?.Value is not JsonString typeValue)
            {
                context.Report(DiagnosticDescriptors.MissingMember.Id, obj.Start, 1, $"Attribute '{path}'", "type");
                return null;
            }

            string? type = Canonical(s_types, typeValue.Value);
            if (type is null)
            {
                context.Report(DiagnosticDescriptors.UnknownType.Id, typeValue.Start, typeValue.Value.Length + 2, path, typeValue.Value);
                return null;
            }

            bool ok = true;
            bool multiValued = context.Boolean(obj, "multiValued", path, ref ok);
            bool required = context.Boolean(obj, "required", path, ref ok);
            bool caseExact = context.Boolean(obj, "caseExact", path, ref ok);
            string mutability = context.Choice(obj, "mutability", s_mutability, "readWrite", path, ref ok);
            string returned = context.Choice(obj, "returned", s_returned, "default", path, ref ok);
            string uniqueness = context.Choice(obj, "uniqueness", s_uniqueness, "none", path, ref ok);
            var canonicalValues = context.Strings(obj, "canonicalValues", path, ref ok);
            var referenceTypes = context.Strings(obj, "referenceTypes", path, ref ok);

            var subAttributes = EquatableArray<AttributeSpec>.Empty;
            var subMember = obj.Find("subAttributes");
            if (type == "complex")
            {
                if (owner is not null)
                {
                    // RFC 7643 §2.3.8: a complex attribute's sub-attributes cannot have sub-attributes.
                    context.Report(DiagnosticDescriptors.InvalidComplex.Id, typeValue.Start, typeValue.Value.Length + 2, path, "a sub-attribute cannot be complex (RFC 7643 §2.3.8)");
                    return null;
                }

                subAttributes = ParseAttributes(context, subMember, path, obj.Start);
                if (subAttributes.Count == 0)
                {
                    if (subMember?.Value is JsonArray { Items.Count: 0 })
                    {
                        context.Report(DiagnosticDescriptors.InvalidComplex.Id, subMember.Value.Start, 1, path, "a complex attribute needs at least one sub-attribute");
                    }

                    return null;
                }
            }
            else if (subMember?.Value is JsonArray { Items.Count: > 0 })
            {
                context.Report(DiagnosticDescriptors.InvalidComplex.Id, subMember.NameStart, subMember.Name.Length + 2, path, $"only complex attributes have sub-attributes, this one is '{type}'");
                return null;
            }

            if (!ok)
            {
                return null;
            }

            return new AttributeSpec(
                name,
                type,
                multiValued,
                context.OptionalString(obj, "description") ?? "",
                required,
                caseExact,
                mutability,
                returned,
                uniqueness,
                canonicalValues,
                referenceTypes,
                subAttributes);
        }

        private static ResourceTypeSpec? ParseResourceType(FileContext context, JsonObject obj)
        {
            string? name = context.RequireString(obj, "name", "Resource type");
            string? endpoint = context.RequireString(obj, "endpoint", "Resource type");
            string? schema = context.RequireString(obj, "schema", "Resource type");
            if (name is null || endpoint is null || schema is null)
            {
                return null;
            }

            if (Names.TypeName(name).Length == 0)
            {
                context.Report(DiagnosticDescriptors.MissingMember.Id, obj.Start, 1, $"Resource type '{name}'", "name usable as a C# identifier");
                return null;
            }

            var extensions = new List<ExtensionSpec>();
            if (obj.Find("schemaExtensions")?.Value is JsonArray array)
            {
                foreach (var item in array.Items)
                {
                    if (item is JsonObject extension && context.RequireString(extension, "schema", "A schema extension") is { } urn)
                    {
                        bool ok = true;
                        extensions.Add(new ExtensionSpec(urn, context.Boolean(extension, "required", urn, ref ok)));
                    }
                }
            }

            return new ResourceTypeSpec(
                context.OptionalString(obj, "id") ?? name,
                name,
                endpoint,
                context.OptionalString(obj, "description") ?? "",
                schema,
                extensions.ToEquatableArray(),
                context.Location(obj.Start, 1));
        }

        private static string? Canonical(string[] allowed, string value)
        {
            foreach (var candidate in allowed)
            {
                if (string.Equals(candidate, value, StringComparison.OrdinalIgnoreCase))
                {
                    return candidate;
                }
            }

            return null;
        }

        private static string Qualified(string? owner, string name) => owner is null ? name : owner + "." + name;

        /// <summary>Per-file state: the text for line numbers and the diagnostics found so far.</summary>
        private sealed class FileContext
        {
            private readonly string _path;
            private readonly SourceText? _text;
            private readonly List<DiagnosticInfo> _diagnostics = [];

            public FileContext(string path, SourceText? text)
            {
                _path = path;
                _text = text;
            }

            public SchemaFileSpec ToSpec(List<SchemaSpec> schemas, List<ResourceTypeSpec> resourceTypes, List<IndexCatalogueSpec> catalogues) =>
                new(_path, schemas.ToEquatableArray(), resourceTypes.ToEquatableArray(), catalogues.ToEquatableArray(), _diagnostics.ToEquatableArray());

            public LocationInfo Location(int start, int length)
            {
                if (_text is null)
                {
                    return new LocationInfo(_path, default, default);
                }

                start = Math.Max(0, Math.Min(start, _text.Length));
                length = Math.Max(0, Math.Min(length, _text.Length - start));
                var span = new TextSpan(start, length);
                return new LocationInfo(_path, span, _text.Lines.GetLinePositionSpan(span));
            }

            public void Report(string id, int start, int length, params string[] arguments) =>
                _diagnostics.Add(new DiagnosticInfo(id, Location(start, length), arguments.ToEquatableArray()));

            public string? OptionalString(JsonObject obj, string member) =>
                obj.Find(member)?.Value is JsonString value ? value.Value : null;

            public string? RequireString(JsonObject obj, string member, string what)
            {
                var found = obj.Find(member);
                if (found?.Value is JsonString { Value.Length: > 0 } value)
                {
                    return value.Value;
                }

                Report(DiagnosticDescriptors.MissingMember.Id, found?.NameStart ?? obj.Start, 1, what, member);
                return null;
            }

            public bool Boolean(JsonObject obj, string member, string path, ref bool ok)
            {
                var found = obj.Find(member);
                if (found is null)
                {
                    return false;
                }

                if (found.Value is JsonLiteral { Text: "true" or "false" } literal)
                {
                    return literal.Text == "true";
                }

                Report(DiagnosticDescriptors.InvalidCharacteristic.Id, found.Value.Start, 1, path, member, Describe(found.Value), "true, false");
                ok = false;
                return false;
            }

            public string Choice(JsonObject obj, string member, string[] allowed, string fallback, string path, ref bool ok)
            {
                var found = obj.Find(member);
                if (found is null)
                {
                    return fallback;
                }

                if (found.Value is JsonString value && Canonical(allowed, value.Value) is { } canonical)
                {
                    return canonical;
                }

                Report(DiagnosticDescriptors.InvalidCharacteristic.Id, found.Value.Start, 1, path, member, Describe(found.Value), string.Join(", ", allowed));
                ok = false;
                return fallback;
            }

            public EquatableArray<string> Strings(JsonObject obj, string member, string path, ref bool ok)
            {
                var found = obj.Find(member);
                if (found is null)
                {
                    return EquatableArray<string>.Empty;
                }

                var values = new List<string>();
                if (found.Value is JsonArray array)
                {
                    foreach (var item in array.Items)
                    {
                        if (item is JsonString value)
                        {
                            values.Add(value.Value);
                            continue;
                        }

                        Report(DiagnosticDescriptors.InvalidCharacteristic.Id, item.Start, 1, path, member, Describe(item), "strings");
                        ok = false;
                    }

                    return values.ToEquatableArray();
                }

                Report(DiagnosticDescriptors.InvalidCharacteristic.Id, found.Value.Start, 1, path, member, Describe(found.Value), "an array of strings");
                ok = false;
                return EquatableArray<string>.Empty;
            }

            private static string Describe(JsonValue value) => value switch
            {
                JsonString s => s.Value,
                JsonLiteral l => l.Text,
                JsonArray => "an array",
                _ => "an object",
            };
        }
    }
}
