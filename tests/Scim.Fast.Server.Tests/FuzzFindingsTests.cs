using System.Net;

using Scim.Fast.Fuzz;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// The fuzzer's corpus and findings as tests: every committed input of every target runs without an
/// exception (tests/Scim.Fast.Fuzz/corpus and crashes), and each crash it found is also reproduced
/// over HTTP, where it was a 500.
/// </summary>
public class FuzzFindingsTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private static string FuzzDirectory(string part)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory!.FullName, "Scim.Fast.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory.FullName, "tests", "Scim.Fast.Fuzz", part);
    }

    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Keys];

    [Theory]
    [MemberData(nameof(Targets))]
    public void EveryCorpusInputAndFoundCrash_RunsCleanly(string target)
    {
        var run = FuzzTargets.All[target].Run;
        int inputs = 0;
        foreach (var part in new[] { "corpus", "crashes" })
        {
            string directory = Path.Combine(FuzzDirectory(part), target);
            if (!Directory.Exists(directory))
            {
                continue;
            }

            foreach (var file in Directory.GetFiles(directory))
            {
                var input = File.ReadAllBytes(file);
                var exception = Record.Exception(() => run(input));
                Assert.True(exception is null, $"{target} {Path.GetFileName(file)}: {exception}");
                inputs++;
            }
        }

        Assert.True(inputs > 0, $"no corpus for {target}");
    }

    [Fact]
    public async Task PatchWithInvalidUtf8InAMemberName_Is400_Not500()
    {
        // Found by the fuzzer: JsonNode reads member names lazily, and the invalid UTF-8 in one
        // threw from the PATCH reader (a 500).
        var user = (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", ScimHttp.User(ScimHttp.Unique("fuzz")))).Expect(HttpStatusCode.Created);
        byte[] body = [.. "{\"mEtho"u8, 0xED, .. "\":\"x\",\"schemas\":[]}"u8];
        var reply = await server.Client.SendBytes(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, body);
        reply.AssertError(HttpStatusCode.BadRequest, "invalidSyntax");

        byte[] surrogate = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"\\ud800\":1,\"Operations\":[]}"u8.ToArray();
        (await server.Client.SendBytes(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, surrogate)).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");

        // The same deep inside an operation's value: it threw from the patcher, not the reader.
        byte[] nested = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"x\\ud800\"}]}"u8.ToArray();
        (await server.Client.SendBytes(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, nested)).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");
        byte[] nestedUtf8 = [.. "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"add\",\"path\":\"phoneNumbers\",\"value\":[{\"value\":\"1\",\"ty"u8, 0xFF, .. "pe\":\"work\"}]}]}"u8];
        (await server.Client.SendBytes(HttpMethod.Patch, "/scim/v2/Users/" + user.Id, nestedUtf8)).AssertError(HttpStatusCode.BadRequest, "invalidSyntax");
        (await server.Client.Get("/scim/v2/Users/" + user.Id)).Expect(HttpStatusCode.OK);
    }
}
