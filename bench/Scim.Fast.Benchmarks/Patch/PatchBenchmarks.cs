using System.Buffers;
using System.Text;

using BenchmarkDotNet.Attributes;

using Scim.Fast.Core.Patch;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Benchmarks.Patch;

/// <summary>
/// Applying Entra ID's attribute-update PATCH to the RFC 7643 §8.2 full user. Baseline: what a
/// hand-written endpoint would do for the same change (set the typed properties, write the user).
/// The engine parses the request and applies every operation to a copy of the typed model through
/// the generated editor (all or nothing), then the result is written.
/// </summary>
[MemoryDiagnoser]
public class PatchBenchmarks
{
    private static readonly byte[] s_request = Encoding.UTF8.GetBytes("""
        {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
         {"op":"Replace","path":"emails[type eq \"work\"].value","value":"ada.byron@example.com"},
         {"op":"Replace","path":"name.familyName","value":"Byron"},
         {"op":"Add","path":"nickName","value":"Ada"},
         {"op":"Replace","path":"active","value":"False"}]}
        """);

    private readonly ArrayBufferWriter<byte> _output = new(16 * 1024);
    private readonly ScimPatcher<User> _patcher = new(UserSerializer.Instance);
    private User _user = null!;

    [GlobalSetup]
    public void Setup()
    {
        var json = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "rfc7643-8.2-full-user.json"));
        if (!UserSerializer.Instance.TryRead(json, ScimReadOptions.Trusted, out var user, out var error))
        {
            throw new InvalidOperationException(error.ToString());
        }

        _user = user;
    }

    [Benchmark(Baseline = true, Description = "hand-written update + write")]
    public int HandWritten()
    {
        var copy = UserSerializer.Instance.TryRead(Serialize(_user), ScimReadOptions.Trusted, out var user, out _) ? user! : _user;
        foreach (var email in copy.Emails ?? [])
        {
            if (email.Type == "work")
            {
                email.Value = "ada.byron@example.com";
            }
        }

        copy.Name ??= new User.NameValue();
        copy.Name.FamilyName = "Byron";
        copy.NickName = "Ada";
        copy.Active = false;
        _output.ResetWrittenCount();
        UserSerializer.Instance.Write(_output, copy);
        return _output.WrittenCount;
    }

    [Benchmark(Description = "ScimPatcher: parse + apply + write")]
    public int Engine()
    {
        if (!ScimPatchRequest.TryParse(new ReadOnlySequence<byte>(s_request), out var request, out var error)
            || !_patcher.TryApply(_user, request, out var result, out error))
        {
            throw new InvalidOperationException(error.ToString());
        }

        _output.ResetWrittenCount();
        UserSerializer.Instance.Write(_output, result.Resource);
        return _output.WrittenCount;
    }

    private ReadOnlyMemory<byte> Serialize(User user)
    {
        _output.ResetWrittenCount();
        UserSerializer.Instance.Write(_output, user, ScimProjection.Everything(UserSerializer.Instance.ResourceType));
        return _output.WrittenMemory.ToArray();
    }
}
