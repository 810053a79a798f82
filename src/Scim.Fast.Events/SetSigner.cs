using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

using Base64UrlText = System.Buffers.Text.Base64Url;

namespace Scim.Fast.Events;

/// <summary>
/// Signs Security Event Tokens as compact JWS (RFC 7515) with <c>typ: secevent+jwt</c> (RFC 8417
/// §2.3): ES256 by default, RS256 for receivers that need it. Keys come from PEM files (configured,
/// or generated once into the data directory and kept there); their public halves are the JWKS.
/// </summary>
public sealed class SetSigner : IDisposable
{
    private readonly ECDsa _ec;
    private readonly RSA _rsa;
    private readonly string _ecKid;
    private readonly string _rsaKid;
    private readonly byte[] _ecHeader;
    private readonly byte[] _rsaHeader;

    private SetSigner(ECDsa ec, RSA rsa)
    {
        _ec = ec;
        _rsa = rsa;
        _ecKid = KeyId(ec.ExportSubjectPublicKeyInfo());
        _rsaKid = KeyId(rsa.ExportSubjectPublicKeyInfo());
        _ecHeader = EncodedHeader("ES256", _ecKid);
        _rsaHeader = EncodedHeader("RS256", _rsaKid);
        Jwks = BuildJwks();
    }

    /// <summary>The public keys as a JWK Set (RFC 7517 §5), served at the transmitter's jwks_uri.</summary>
    public byte[] Jwks { get; }

    /// <summary>
    /// Loads the keys from <paramref name="directory"/> (<c>es256.pem</c>, <c>rs256.pem</c>), creating
    /// the missing ones; <paramref name="es256KeyFile"/>, when given, is used for ES256 instead.
    /// </summary>
    public static SetSigner Open(string directory, string? es256KeyFile = null)
    {
        Directory.CreateDirectory(directory);
        var ec = ECDsa.Create();
        var rsa = RSA.Create();
        string ecPath = string.IsNullOrEmpty(es256KeyFile) ? Path.Combine(directory, "es256.pem") : es256KeyFile;
        LoadOrCreate(ecPath, pem => ec.ImportFromPem(pem), () =>
        {
            ec.GenerateKey(ECCurve.NamedCurves.nistP256);
            return ec.ExportPkcs8PrivateKeyPem();
        });
        if (ec.KeySize != 256)
        {
            throw new InvalidOperationException($"The ES256 signing key in {ecPath} is not a P-256 key.");
        }

        LoadOrCreate(Path.Combine(directory, "rs256.pem"), pem => rsa.ImportFromPem(pem), () =>
        {
            rsa.KeySize = 2048;
            return rsa.ExportPkcs8PrivateKeyPem();
        });
        return new SetSigner(ec, rsa);
    }

    // A key written once, readable by the owner only, never logged.
    private static void LoadOrCreate(string path, Action<string> import, Func<string> create)
    {
        if (File.Exists(path))
        {
            import(File.ReadAllText(path));
            return;
        }

        string pem = create();
        string temporary = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var file = new FileStream(temporary, options))
        {
            file.Write(Encoding.ASCII.GetBytes(pem));
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path);
    }

    /// <summary>The compact JWS of <paramref name="claims"/> (UTF-8 JSON), signed with <paramref name="algorithm"/> (ES256 or RS256).</summary>
    /// <remarks>
    /// Push signs one SET per event on the sending threads, so this is a hot path: the encoded
    /// header is made once, the signing input is base64url-encoded straight into a pooled buffer,
    /// and the hash is signed (SignData would hash the same bytes through a fresh context).
    /// </remarks>
    public string Sign(ReadOnlySpan<byte> claims, string algorithm)
    {
        bool rsa = algorithm == "RS256";
        byte[] header = rsa ? _rsaHeader : _ecHeader;
        int signatureLength = rsa ? (_rsa.KeySize + 7) / 8 : 64;
        int length = header.Length + 1 + Base64UrlText.GetEncodedLength(claims.Length) + 1 + Base64UrlText.GetEncodedLength(signatureLength);
        byte[] jws = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            header.CopyTo(jws, 0);
            int at = header.Length;
            jws[at++] = (byte)'.';
            at += Base64UrlText.EncodeToUtf8(claims, jws.AsSpan(at));

            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(jws.AsSpan(0, at), hash);

            // .NET's ECDSA signature is IEEE P1363 (r || s), which is what JWS wants (RFC 7518 §3.4).
            Span<byte> signature = stackalloc byte[signatureLength];
            int signed = rsa
                ? _rsa.SignHash(hash, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                : _ec.SignHash(hash, signature);
            jws[at++] = (byte)'.';
            at += Base64UrlText.EncodeToUtf8(signature[..signed], jws.AsSpan(at));
            return Encoding.ASCII.GetString(jws, 0, at);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(jws);
        }
    }

    public static string Base64Url(ReadOnlySpan<byte> bytes) => Base64UrlText.EncodeToString(bytes);

    private static string KeyId(byte[] publicKey) => Base64Url(SHA256.HashData(publicKey).AsSpan(0, 16));

    // The JOSE header (RFC 7515 §4), base64url-encoded: the first part of every SET with that key.
    private static byte[] EncodedHeader(string algorithm, string kid) => Encoding.ASCII.GetBytes(Base64Url(
        JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = algorithm, ["typ"] = "secevent+jwt", ["kid"] = kid })));

    private byte[] BuildJwks()
    {
        var ec = _ec.ExportParameters(includePrivateParameters: false);
        var rsa = _rsa.ExportParameters(includePrivateParameters: false);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("keys");
            writer.WriteStartObject();
            writer.WriteString("kty", "EC");
            writer.WriteString("crv", "P-256");
            writer.WriteString("x", Base64Url(ec.Q.X));
            writer.WriteString("y", Base64Url(ec.Q.Y));
            writer.WriteString("kid", _ecKid);
            writer.WriteString("use", "sig");
            writer.WriteString("alg", "ES256");
            writer.WriteEndObject();
            writer.WriteStartObject();
            writer.WriteString("kty", "RSA");
            writer.WriteString("n", Base64Url(rsa.Modulus));
            writer.WriteString("e", Base64Url(rsa.Exponent));
            writer.WriteString("kid", _rsaKid);
            writer.WriteString("use", "sig");
            writer.WriteString("alg", "RS256");
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public void Dispose()
    {
        _ec.Dispose();
        _rsa.Dispose();
    }
}
