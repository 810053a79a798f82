namespace Scim.Fast.Events;

/// <summary>Event type URIs: SCIM provisioning events (RFC 9967 §7.4, lower case) and SSF's own (OpenID SSF 1.0 §8.1.4, §8.1.5).</summary>
public static class EventUris
{
    public const string CreateFull = "urn:ietf:params:scim:event:prov:create:full";
    public const string CreateNotice = "urn:ietf:params:scim:event:prov:create:notice";
    public const string PutFull = "urn:ietf:params:scim:event:prov:put:full";
    public const string PutNotice = "urn:ietf:params:scim:event:prov:put:notice";
    public const string PatchFull = "urn:ietf:params:scim:event:prov:patch:full";
    public const string PatchNotice = "urn:ietf:params:scim:event:prov:patch:notice";
    public const string Delete = "urn:ietf:params:scim:event:prov:delete";
    public const string Activate = "urn:ietf:params:scim:event:prov:activate";
    public const string Deactivate = "urn:ietf:params:scim:event:prov:deactivate";

    public const string Verification = "https://schemas.openid.net/secevent/ssf/event-type/verification";
    public const string StreamUpdated = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

    /// <summary>Delivery methods: push (RFC 8935) and poll (RFC 8936).</summary>
    public const string Push = "urn:ietf:rfc:8935";
    public const string Poll = "urn:ietf:rfc:8936";

    /// <summary>Every provisioning event this transmitter emits (what a stream may request).</summary>
    public static readonly IReadOnlyList<string> Supported =
    [
        CreateFull, CreateNotice, PutFull, PutNotice, PatchFull, PatchNotice, Delete, Activate, Deactivate,
    ];
}
