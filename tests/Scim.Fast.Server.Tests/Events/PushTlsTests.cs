using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

using Microsoft.AspNetCore.Server.Kestrel.Core;

using static Scim.Fast.Server.Tests.Events.EventStreamClient;
using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests.Events;

/// <summary>The events server trusting one self-signed certificate for push receivers (Scim:Events:PushTrustedCertificatesFile).</summary>
public sealed class TrustingPushFixture : EventsFixture
{
    public static readonly X509Certificate2 Trusted = SelfSigned("trusted receiver");

    /// <summary>Trusted too, but issued to another address than the receiver's 127.0.0.1.</summary>
    public static readonly X509Certificate2 TrustedElsewhere = SelfSigned("trusted elsewhere", IPAddress.Parse("10.1.2.3"));

    private static readonly string s_trustFile = WriteTrustFile();

    protected override IEnumerable<string> ExtraArguments => [.. base.ExtraArguments, "--Scim:Events:PushTrustedCertificatesFile=" + s_trustFile];

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        File.Delete(s_trustFile);
    }

    /// <summary>A server certificate for 127.0.0.1 (or <paramref name="address"/>) that no system root vouches for.</summary>
    public static X509Certificate2 SelfSigned(string name, IPAddress? address = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(address ?? IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static string WriteTrustFile()
    {
        string file = Path.Combine(Path.GetTempPath(), "scim-fast-push-trust-" + Guid.NewGuid().ToString("N") + ".pem");
        File.WriteAllText(file, Trusted.ExportCertificatePem() + "\n" + TrustedElsewhere.ExportCertificatePem());
        return file;
    }
}

/// <summary>
/// https push receivers: by default push offers HTTP/2 through ALPN and takes it when the receiver
/// does; a receiver whose certificate chains to a configured certificate is trusted, one whose
/// certificate nothing vouches for, or one trusted but issued to another address, gets no request.
/// </summary>
public class PushTlsTests(TrustingPushFixture server) : IClassFixture<TrustingPushFixture>
{
    [Fact]
    public async Task ATrustedHttpsReceiver_IsSpokenToInHttp2_ByNegotiation()
    {
        await using var receiver = await PushHttpVersionTests.Recorder.StartAsync(HttpProtocols.Http1AndHttp2, TimeSpan.Zero, TrustingPushFixture.Trusted);
        Assert.StartsWith("https://", receiver.Url, StringComparison.Ordinal);
        await PushHttpVersionTests.CreatePushStreamAsync(server, receiver.Url);
        string id = (await server.Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("tls")))).Expect(HttpStatusCode.Created).Id;

        await receiver.WaitForAsync(1, TimeSpan.FromSeconds(30));
        Assert.Equal(["HTTP/2"], receiver.Protocols.Distinct());
        Assert.Equal(["urn:ietf:params:scim:event:prov:create:notice"], receiver.EventsOf("/Users/" + id));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnHttpsReceiverNothingVouchesFor_GetsNoRequest(bool trustedButForAnotherAddress)
    {
        using var stranger = TrustingPushFixture.SelfSigned("unknown receiver");
        var certificate = trustedButForAnotherAddress ? TrustingPushFixture.TrustedElsewhere : stranger;
        await using var receiver = await PushHttpVersionTests.Recorder.StartAsync(HttpProtocols.Http1AndHttp2, TimeSpan.Zero, certificate);
        await PushHttpVersionTests.CreatePushStreamAsync(server, receiver.Url);
        (await server.Client.Send(HttpMethod.Post, Base + "/Users", User(Unique("untrusted")))).Expect(HttpStatusCode.Created);

        // The TLS handshake fails before any request (the stream backs off as for a receiver it cannot reach).
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Empty(receiver.Protocols);
    }
}
