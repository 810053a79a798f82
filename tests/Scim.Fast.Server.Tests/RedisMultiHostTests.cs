using System.Net;
using System.Text.Json.Nodes;

using Scim.Fast.Tests.Shared;

using static Scim.Fast.Server.Tests.ScimHttp;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// Several hosts on one Redis store hold nothing that matters between them (issue 16): tenants
/// first used on different hosts at the same moment get different numbers (so never each other's
/// data), a tenant registered by one host is served and listed by the other, and what one host
/// writes the other reads at once.
/// </summary>
public sealed class RedisMultiHostTests
{
    private const string AdminToken = "multi-host-admin-token-0123456789";
    private static readonly string[] s_tenants = ["north", "south", "east", "west"];

    [Fact]
    public async Task TenantsFirstUsedOnTwoHostsAtOnce_GetTheirOwnNumbers_AndBothHostsServeThem()
    {
        var cluster = await RedisCluster.Shared;
        string prefix = "mh" + Guid.NewGuid().ToString("N")[..6] + ":";
        string[] data = [NewDirectory(), NewDirectory()];
        try
        {
            using var hostA = await StartHostAsync(cluster, prefix, data[0]);
            using var hostB = await StartHostAsync(cluster, prefix, data[1]);

            // Each tenant's first request goes to both hosts at the same moment.
            var creates = new List<Task<Reply>>();
            foreach (string tenant in s_tenants)
            {
                foreach (var host in new[] { hostA, hostB })
                {
                    var client = host.Client(Token(tenant));
                    creates.Add(client.Send(HttpMethod.Post, $"/tenants/{tenant}/scim/v2/Users", User($"{tenant}-{host.Address.Port}@example.com")));
                }
            }

            foreach (var reply in await Task.WhenAll(creates))
            {
                reply.Expect(HttpStatusCode.Created);
            }

            // Every tenant sees its own two users, through either host, and nobody else's.
            foreach (string tenant in s_tenants)
            {
                foreach (var host in new[] { hostA, hostB })
                {
                    using var client = host.Client(Token(tenant));
                    var list = (await client.Get($"/tenants/{tenant}/scim/v2/Users?count=10")).Expect(HttpStatusCode.OK).Body!;
                    var names = list["Resources"]!.AsArray().Select(r => (string)r!["userName"]!).Order(StringComparer.Ordinal).ToArray();
                    string[] expected = [$"{tenant}-{hostA.Address.Port}@example.com", $"{tenant}-{hostB.Address.Port}@example.com"];
                    Assert.Equal(expected.Order(StringComparer.Ordinal), names);
                }
            }

            // Both hosts list every tenant, with one number each, no number twice.
            foreach (var host in new[] { hostA, hostB })
            {
                using var admin = host.Client(AdminToken);
                var listed = JsonNode.Parse(await admin.GetStringAsync("/admin/tenants"))!["tenants"]!.AsArray()
                    .Where(t => (string)t!["name"]! != "default").ToDictionary(t => (string)t!["name"]!, t => (long)t!["number"]!);
                Assert.Equal(s_tenants.Order(StringComparer.Ordinal), listed.Keys.Order(StringComparer.Ordinal));
                Assert.Equal(listed.Count, listed.Values.Distinct().Count());
                Assert.All(listed, t => Assert.NotEqual(0, t.Value));
            }

            Assert.True(hostA.Failures.IsEmpty && hostB.Failures.IsEmpty, string.Join("\n", hostA.Failures.Concat(hostB.Failures).Take(20)));
        }
        finally
        {
            foreach (string directory in data)
            {
                try
                {
                    Directory.Delete(directory, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    private static string Token(string tenant) => $"multi-host-{tenant}-token-0123456789";

    private static string NewDirectory() => Path.Combine(Path.GetTempPath(), "scim-fast-multihost-" + Guid.NewGuid().ToString("N"));

    private static async Task<ServerProcess> StartHostAsync(RedisCluster cluster, string prefix, string data)
    {
        var settings = new List<string>
        {
            "--Scim:Store=Redis", "--Scim:Redis:Configuration=" + cluster.Configuration, "--Scim:Redis:KeyPrefix=" + prefix,
            "--Scim:DataDirectory=" + data, "--Scim:AdminTokens:0=" + AdminToken,
            "--Logging:LogLevel:Default=Warning", "--Scim:Limits:RequestsPerSecondPerToken=0",
        };
        foreach (string tenant in s_tenants)
        {
            settings.Add($"--Scim:Tenants:{tenant}:BearerTokens:0=" + Token(tenant));
        }

        var host = await ServerProcess.StartAsync(ServerProcess.BuiltServerPath(), settings);
        using var probe = host.Client(AdminToken);
        (await probe.GetAsync("/readyz")).EnsureSuccessStatusCode();
        return host;
    }
}
