using System;
using System.Collections.Generic;
using System.Linq;

using Scim.Fast.Generators.Model;

namespace Scim.Fast.Generators;

public sealed partial class ScimSchemaGenerator
{
    /// <summary>The layout the emitters share: scopes, members with their ordinals, extension and resource layouts.</summary>
    internal static partial class Emitter
    {
        /// <summary>One JSON object shape: the resource, an extension block or a complex value.</summary>
        private sealed class Scope
        {
            public Scope(string key, string targetType, string pathPrefix)
            {
                Key = key;
                TargetType = targetType;
                PathPrefix = pathPrefix;
            }

            public string Key { get; }

            public string TargetType { get; }

            public string PathPrefix { get; }

            public List<Member> Members { get; } = [];
        }

        private sealed class Member
        {
            public Member(AttributeSpec spec, int ordinal, string property, string path, Scope? complex)
            {
                Spec = spec;
                Ordinal = ordinal;
                Property = property;
                Path = path;
                Complex = complex;
            }

            public AttributeSpec Spec { get; }

            public int Ordinal { get; }

            public string Property { get; }

            /// <summary>The path used in error messages.</summary>
            public string Path { get; }

            public Scope? Complex { get; }
        }

        private sealed class ExtensionLayout
        {
            public ExtensionLayout(SchemaSpec schema, bool required, int ordinal, Scope scope, string property)
            {
                Schema = schema;
                Required = required;
                Ordinal = ordinal;
                Scope = scope;
                Property = property;
            }

            public SchemaSpec Schema { get; }

            public bool Required { get; }

            public int Ordinal { get; }

            public Scope Scope { get; }

            public string Property { get; }
        }

        private sealed class ResourceLayout
        {
            private int _next;

            public ResourceLayout(GenerationSpec spec, ResourceTypeSpec resourceType)
            {
                ResourceType = resourceType;
                CoreSchema = FindSchema(spec, resourceType.Schema);
                ModelType = Names.TypeName(CoreSchema.Name);
                SerializerName = Names.TypeName(resourceType.Name) + "Serializer";
                ResourceScope = new Scope("Resource", ModelType, "");
                CommonAttributes = CommonAttributeSpecs();
                foreach (var attribute in CommonAttributes)
                {
                    AddMember(ResourceScope, attribute, ModelType, "");
                }

                foreach (var attribute in CoreSchema.Attributes)
                {
                    AddMember(ResourceScope, attribute, ModelType, "");
                }

                foreach (var extension in resourceType.Extensions)
                {
                    var schema = FindSchema(spec, extension.Schema);
                    string extensionType = Names.TypeName(schema.Name);
                    int ordinal = _next++;
                    // "Ext" keeps extension method names apart from "Resource" and the complex scopes.
                    var scope = new Scope("Ext" + extensionType, extensionType, schema.Id + ":");
                    foreach (var attribute in schema.Attributes)
                    {
                        AddMember(scope, attribute, extensionType, schema.Id + ":");
                    }

                    Extensions.Add(new ExtensionLayout(schema, extension.Required, ordinal, scope, Names.PropertyName(schema.Name, ModelType)));
                }

                // "schemas" (RFC 7643 §3) is filterable like a multi-valued attribute; its values are
                // the core URN and the URNs of the extensions present. It takes the last ordinal.
                SchemasOrdinal = _next++;
                OrdinalCount = _next;
            }

            public int SchemasOrdinal { get; }

            public ResourceTypeSpec ResourceType { get; }

            public SchemaSpec CoreSchema { get; }

            public string ModelType { get; }

            public string SerializerName { get; }

            public Scope ResourceScope { get; }

            public List<AttributeSpec> CommonAttributes { get; }

            public List<ExtensionLayout> Extensions { get; } = [];

            public int OrdinalCount { get; }

            /// <summary>Every scope, depth first, each once.</summary>
            public IEnumerable<Scope> AllScopes()
            {
                foreach (var scope in new[] { ResourceScope }.Concat(Extensions.Select(e => e.Scope)))
                {
                    yield return scope;
                    foreach (var member in scope.Members.Where(m => m.Complex is not null))
                    {
                        yield return member.Complex!;
                    }
                }
            }

            private void AddMember(Scope scope, AttributeSpec attribute, string enclosingType, string pathPrefix)
            {
                int ordinal = _next++;
                string path = pathPrefix + attribute.Name;
                Scope? complex = null;
                if (attribute.Type == "complex")
                {
                    bool isMeta = scope == ResourceScope && attribute.Name == "meta";
                    string type = isMeta ? "global::Scim.Fast.Core.Schema.ScimMeta" : enclosingType + "." + ComplexClassName(attribute);
                    complex = new Scope(scope.Key + "_" + Names.TypeName(attribute.Name), type, path + ".");
                    foreach (var sub in attribute.SubAttributes)
                    {
                        AddMember(complex, sub, ComplexClassName(attribute), path + ".");
                    }
                }

                scope.Members.Add(new Member(attribute, ordinal, Names.PropertyName(attribute.Name, enclosingType), path, complex));
            }
        }

        private static AttributeSpec SchemasSpec() => new(
            "schemas",
            "reference",
            true,
            "The schema URIs of the resource: its core schema and the extensions it carries (RFC 7643 §3).",
            true,
            false,
            "readOnly",
            "always",
            "none",
            EquatableArray<string>.Empty,
            new[] { "uri" }.ToEquatableArray(),
            EquatableArray<AttributeSpec>.Empty);

        /// <summary>id, externalId and meta: on every resource, in no schema (RFC 7643 §3.1).</summary>
        internal static List<AttributeSpec> CommonAttributeSpecs()
        {
            static AttributeSpec Simple(string name, string type, bool caseExact, string mutability, string returned, string uniqueness, string description, params string[] referenceTypes) =>
                new(name, type, false, description, false, caseExact, mutability, returned, uniqueness, EquatableArray<string>.Empty, referenceTypes.ToEquatableArray(), EquatableArray<AttributeSpec>.Empty);

            return
            [
                Simple("id", "string", true, "readOnly", "always", "server", "A unique identifier for a SCIM resource as defined by the service provider."),
                Simple("externalId", "string", true, "readWrite", "default", "none", "A String that is an identifier for the resource as defined by the provisioning client."),
                new AttributeSpec(
                    "meta",
                    "complex",
                    false,
                    "A complex attribute containing resource metadata.",
                    false,
                    false,
                    "readOnly",
                    "default",
                    "none",
                    EquatableArray<string>.Empty,
                    EquatableArray<string>.Empty,
                    new[]
                    {
                        Simple("resourceType", "string", true, "readOnly", "default", "none", "The name of the resource type of the resource."),
                        Simple("created", "dateTime", false, "readOnly", "default", "none", "The DateTime that the resource was added to the service provider."),
                        Simple("lastModified", "dateTime", false, "readOnly", "default", "none", "The most recent DateTime that the details of this resource were updated at the service provider."),
                        Simple("location", "reference", true, "readOnly", "default", "none", "The URI of the resource being returned.", "uri"),
                        Simple("version", "string", true, "readOnly", "default", "none", "The version of the resource being returned."),
                    }.ToEquatableArray()),
            ];
        }
    }
}
