using System.Diagnostics;
using System.Globalization;

namespace Scim.Fast.Server.Tests;

/// <summary>
/// The reload of issued tokens watches tokens.json in the data directory, not the directory tree:
/// a recursive watch (a PhysicalFileProvider did that) also watched the store's directories, and
/// every write to its log files woke the watcher's thread for an inotify event and a stat, about
/// one per group commit (strace, issue 14). The kernel's own list of watches is the evidence.
/// </summary>
public sealed class TokenWatchTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    [Fact]
    public void IssuedTokensWatch_CoversTheDataDirectory_NotTheStoresDirectories()
    {
        var watched = InotifyWatchedInodes();
        Assert.Contains(Inode(server.DataDirectory), watched);

        string[] below = Directory.GetDirectories(server.DataDirectory, "*", SearchOption.AllDirectories);
        Assert.NotEmpty(below); // the store's directories: store/, store/kv, store/wal, ...
        foreach (string directory in below)
        {
            Assert.False(watched.Contains(Inode(directory)), $"{Path.GetRelativePath(server.DataDirectory, directory)} is watched too");
        }
    }

    // Every inotify watch of this process: /proc/self/fdinfo of an inotify descriptor lists one
    // "inotify wd:N ino:<hex> sdev:..." line per watch (proc(5)).
    private static HashSet<long> InotifyWatchedInodes()
    {
        var inodes = new HashSet<long>();
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            string? target = new FileInfo(fd).LinkTarget;
            if (target is null || !target.Contains("inotify", StringComparison.Ordinal))
            {
                continue;
            }

            string info;
            try
            {
                info = File.ReadAllText("/proc/self/fdinfo/" + Path.GetFileName(fd));
            }
            catch (IOException)
            {
                continue; // closed meanwhile
            }

            foreach (string line in info.Split('\n'))
            {
                int at = line.IndexOf(" ino:", StringComparison.Ordinal);
                if (line.StartsWith("inotify ", StringComparison.Ordinal) && at > 0)
                {
                    string hex = line[(at + 5)..].Split(' ')[0];
                    inodes.Add(long.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                }
            }
        }

        return inodes;
    }

    // .NET has no inode API; coreutils' stat does.
    private static long Inode(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true })!;
        string output = stat.StandardOutput.ReadToEnd();
        stat.WaitForExit();
        return long.Parse(output.Trim(), CultureInfo.InvariantCulture);
    }
}
