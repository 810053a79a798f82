using System.Net;
using System.Text.Json.Nodes;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// Keys built from user data on Redis: SCAN patterns match '}' with '*', so an externalId or
/// userName shaped like another kind of key ("a}r:x", "b}f") must not be taken for one by the
/// store's own scans (Verify, sweeps).
/// </summary>
public sealed class RedisKeyShapeTests(RedisAdminFixture server) : IClassFixture<RedisAdminFixture>
{
    [Fact]
    public async Task ValuesShapedLikeKeys_AreNotTakenForKeys_ByTheStoresScans()
    {
        foreach (string shaped in new[] { "a}r:1:x", "b}f", "c}u:1:y", "d}m:g", "e}dq" })
        {
            var user = User(Unique("shaped") + shaped, externalId: "ext" + shaped);
            (await server.Client.Send(HttpMethod.Post, "/scim/v2/Users", user)).Expect(HttpStatusCode.Created);
        }

        using var admin = server.CreateClient(AdminFixture.AdminToken);
        using var verify = await admin.GetAsync("/admin/verify");
        Assert.Equal(HttpStatusCode.OK, verify.StatusCode);
        var problems = JsonNode.Parse(await verify.Content.ReadAsStringAsync())!["problems"]!.AsArray();
        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(10)));
    }
}
