using System.Security.Cryptography;
using System.Text;

using BenchmarkDotNet.Attributes;

using Scim.Fast.Events;
using Scim.Fast.Storage.Feed;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Benchmarks.Events;

/// <summary>
/// What one SET costs the server before it goes out (RFC 8417, ES256): the claims of a
/// <c>prov:patch:full</c> event written and signed as compact JWS, against the bare ECDSA P-256
/// signature of the same claims in the same run (the floor: the signature is most of the work).
/// Push delivery does this once per event, so it bounds how many SETs a core can send.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class SetBenchmarks
{
    private string _keys = "";
    private SetSigner _signer = null!;
    private SetFactory _factory = null!;
    private EventStream _stream = null!;
    private ChangeEntry _entry = null!;
    private ECDsa _bare = null!;
    private byte[] _claims = [];

    [GlobalSetup]
    public void Setup()
    {
        _keys = Path.Combine(Path.GetTempPath(), "scim-set-bench-" + Guid.NewGuid().ToString("N"));
        _signer = SetSigner.Open(_keys);
        _factory = new SetFactory(_signer, new Dictionary<byte, string> { [1] = "Users" });
        _stream = new EventStream
        {
            Id = "4f0c6a9e2b7d4c1a8e3f5b6d7c8a9e0f",
            Tenant = new TenantId(1),
            Issuer = "http://127.0.0.1:8080/scim/v2",
            Method = "urn:ietf:rfc:8935",
            Requested = [EventUris.PatchFull],
            Audience = ["https://receiver.example.com/events"],
        };
        string patch = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Event run 123456\"}]}";
        _entry = new ChangeEntry(123_456, ChangeOperation.Patch, ActiveChange.None, 1, "2819c223-7f76-453a-919d-413861904646",
            "bjensen-external", 17, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), "0HN8TX2JQ5Q3A:00000001", Encoding.UTF8.GetBytes(patch));
        _bare = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _claims = Encoding.UTF8.GetBytes(SetPayload(_factory.Create(_stream, _entry, 0, EventUris.PatchFull).Set));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _signer.Dispose();
        _bare.Dispose();
        Directory.Delete(_keys, recursive: true);
    }

    [Benchmark(Baseline = true, Description = "ECDSA P-256 signature of the claims")]
    public byte[] BareSignature() => _bare.SignData(_claims, HashAlgorithmName.SHA256);

    [Benchmark(Description = "SET: claims written and signed (ES256)")]
    public string Set() => _factory.Create(_stream, _entry, 0, EventUris.PatchFull).Set;

    [Benchmark(Description = "SET claims only (push signs them on the sending thread)")]
    public int Claims() => _factory.CreateUnsigned(_stream, _entry, 0, EventUris.PatchFull).Claims!.Length;

    private static string SetPayload(string set)
    {
        string payload = set.Split('.')[1].Replace('-', '+').Replace('_', '/');
        return Encoding.UTF8.GetString(Convert.FromBase64String(payload + new string('=', (4 - (payload.Length % 4)) % 4)));
    }
}
