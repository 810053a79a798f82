using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Scim.Fast.Load.Tests;

/// <summary>The baseline endpoint in its own process: it serves the recorded bytes, and it ends with its parent's dispose.</summary>
public sealed class BaselineServerTests
{
    [Fact]
    public async Task InItsOwnProcess_ServesTheRecordedBytes_AndEndsOnDispose()
    {
        var samples = new ConcurrentDictionary<string, (int Status, byte[] Body)>(StringComparer.Ordinal);
        samples["get"] = (200, "{\"id\":\"a\"}"u8.ToArray());
        samples["post"] = (201, "{\"id\":\"b\",\"userName\":\"ü\"}"u8.ToArray());
        int childCountBefore = ChildrenOf(Environment.ProcessId);

        var baseline = await BaselineServer.StartProcessAsync(samples);
        Uri address = baseline.Address;
        try
        {
            Assert.Equal(childCountBefore + 1, ChildrenOf(Environment.ProcessId));
            using var http = new HttpClient { BaseAddress = address };
            using var get = new HttpRequestMessage(HttpMethod.Get, "/scim/v2/Users/a");
            get.Headers.Add(LoadContext.KindHeader, "get");
            using var getReply = await http.SendAsync(get);
            Assert.Equal(HttpStatusCode.OK, getReply.StatusCode);
            Assert.Equal(samples["get"].Body, await getReply.Content.ReadAsByteArrayAsync());

            using var post = new HttpRequestMessage(HttpMethod.Post, "/scim/v2/Users") { Content = new ByteArrayContent(new byte[100_000]) };
            post.Headers.Add(LoadContext.KindHeader, "post");
            using var postReply = await http.SendAsync(post);
            Assert.Equal(HttpStatusCode.Created, postReply.StatusCode);
            Assert.Equal(samples["post"].Body, await postReply.Content.ReadAsByteArrayAsync());
        }
        finally
        {
            await baseline.DisposeAsync();
        }

        Assert.Equal(childCountBefore, ChildrenOf(Environment.ProcessId));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.ThrowsAny<SocketException>(() => socket.Connect(IPAddress.Loopback, address.Port));
    }

    // Live child processes of a process, from /proc (this suite runs on Linux).
    private static int ChildrenOf(int pid)
    {
        int count = 0;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[1] == pid.ToString(System.Globalization.CultureInfo.InvariantCulture) && fields[0] != "Z")
                {
                    count++;
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return count;
    }
}
