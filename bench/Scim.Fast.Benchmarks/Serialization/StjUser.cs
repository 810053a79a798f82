using System.Text.Json.Serialization;

namespace Scim.Fast.Benchmarks.Serialization;

// The obvious alternative: plain POCOs for System.Text.Json, shaped like the RFC 7643 §4.1 User
// with the enterprise extension (§4.3) under its URN, so both serializers do the same work.

public sealed class StjUser
{
    public List<string>? Schemas { get; set; }
    public string? Id { get; set; }
    public string? ExternalId { get; set; }
    public string? UserName { get; set; }
    public StjName? Name { get; set; }
    public string? DisplayName { get; set; }
    public string? NickName { get; set; }
    public string? ProfileUrl { get; set; }
    public List<StjMultiValue>? Emails { get; set; }
    public List<StjAddress>? Addresses { get; set; }
    public List<StjMultiValue>? PhoneNumbers { get; set; }
    public List<StjMultiValue>? Ims { get; set; }
    public List<StjMultiValue>? Photos { get; set; }
    public string? UserType { get; set; }
    public string? Title { get; set; }
    public string? PreferredLanguage { get; set; }
    public string? Locale { get; set; }
    public string? Timezone { get; set; }
    public bool? Active { get; set; }
    public string? Password { get; set; }
    public List<StjGroupRef>? Groups { get; set; }
    public List<StjMultiValue>? X509Certificates { get; set; }
    [JsonPropertyName("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
    public StjEnterprise? Enterprise { get; set; }
    public StjMeta? Meta { get; set; }
}

public sealed class StjName
{
    public string? Formatted { get; set; }
    public string? FamilyName { get; set; }
    public string? GivenName { get; set; }
    public string? MiddleName { get; set; }
    public string? HonorificPrefix { get; set; }
    public string? HonorificSuffix { get; set; }
}

public sealed class StjMultiValue
{
    public string? Value { get; set; }
    public string? Display { get; set; }
    public string? Type { get; set; }
    public bool? Primary { get; set; }
}

public sealed class StjAddress
{
    public string? Formatted { get; set; }
    public string? StreetAddress { get; set; }
    public string? Locality { get; set; }
    public string? Region { get; set; }
    public string? PostalCode { get; set; }
    public string? Country { get; set; }
    public string? Type { get; set; }
    public bool? Primary { get; set; }
}

public sealed class StjGroupRef
{
    public string? Value { get; set; }
    [JsonPropertyName("$ref")]
    public string? Ref { get; set; }
    public string? Display { get; set; }
    public string? Type { get; set; }
}

public sealed class StjEnterprise
{
    public string? EmployeeNumber { get; set; }
    public string? CostCenter { get; set; }
    public string? Organization { get; set; }
    public string? Division { get; set; }
    public string? Department { get; set; }
    public StjManager? Manager { get; set; }
}

public sealed class StjManager
{
    public string? Value { get; set; }
    [JsonPropertyName("$ref")]
    public string? Ref { get; set; }
    public string? DisplayName { get; set; }
}

public sealed class StjMeta
{
    public string? ResourceType { get; set; }
    public DateTimeOffset? Created { get; set; }
    public DateTimeOffset? LastModified { get; set; }
    public string? Location { get; set; }
    public string? Version { get; set; }
}

/// <summary>STJ source generation with the fast-path serializer, camelCase names, nulls omitted.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StjUser))]
public sealed partial class StjUserContext : JsonSerializerContext;
