using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json.Nodes;

namespace Scim.Fast.Cli;

/// <summary>
/// Offline backup and restore of a data directory. Backup first opens the directory with the
/// embedded server and stops it (a stop takes a checkpoint and closes the store cleanly), then
/// archives the whole directory; restore extracts into an empty directory and runs the store's
/// consistency check on the result. <see cref="BackupOnlineAsync"/> takes one from a running server.
/// </summary>
internal static class Backups
{
    public static async Task<int> BackupAsync(DirectoryInfo data, FileInfo archive, ScimFastTool.Output console, TextWriter error, CancellationToken cancel)
    {
        if (!Directory.Exists(Path.Combine(data.FullName, "store")))
        {
            await error.WriteLineAsync($"error: {data.FullName} holds no Scim.Fast store (no 'store' folder).").ConfigureAwait(false);
            return 2;
        }

        if (archive.FullName.StartsWith(data.FullName.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            await error.WriteLineAsync("error: --out must be outside the data directory (the archive would hold itself).").ConfigureAwait(false);
            return 2;
        }

        // Open and stop: recovery replays the log and the stop leaves a checkpoint, so the copy
        // starts from a checkpoint rather than from whatever a crash left.
        try
        {
            await (await ScimTarget.OpenAsync(data.FullName, null, null, null, "default").ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            // An archive of a store that cannot be recovered would restore nothing usable.
            await error.WriteLineAsync("error: " + e.Message + " Nothing was archived.").ConfigureAwait(false);
            return 2;
        }

        await using (var file = archive.Create())
        await using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        {
            await TarFile.CreateFromDirectoryAsync(data.FullName, gzip, includeBaseDirectory: false, cancel).ConfigureAwait(false);
        }

        archive.Refresh();
        console.Summary(new JsonObject { ["archive"] = archive.FullName, ["bytes"] = archive.Length });
        return 0;
    }

    /// <summary>
    /// A running server's backup (GET /admin/backup): the server checkpoints, holds checkpoints
    /// while it streams its data directory as tar.gz, and writes go on meanwhile.
    /// </summary>
    public static async Task<int> BackupOnlineAsync(string target, string? adminToken, FileInfo archive, ScimFastTool.Output console, TextWriter error, CancellationToken cancel)
    {
        if (adminToken is null)
        {
            await error.WriteLineAsync("error: an online backup needs --admin-token (one of the server's administration tokens).").ConfigureAwait(false);
            return 2;
        }

        Uri baseUri;
        try
        {
            baseUri = ScimFastTool.TargetUri(target)!;
        }
        catch (ToolException e)
        {
            await error.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
            return e.ExitCode;
        }

        // The admin API sits at the host's root, beside the SCIM base path.
        using var http = new HttpClient { BaseAddress = new Uri(baseUri.GetLeftPart(UriPartial.Authority) + "/"), Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", adminToken);
        string temporary = archive.FullName + ".partial";
        try
        {
            using var response = await http.GetAsync("admin/backup", HttpCompletionOption.ResponseHeadersRead, cancel).ConfigureAwait(false);
            await ScimFastTool.EnsureSuccessAsync(response, cancel).ConfigureAwait(false);
            await using (var source = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false))
            await using (var file = File.Create(temporary))
            {
                await source.CopyToAsync(file, cancel).ConfigureAwait(false);
            }

            // A stream cut short is no backup: the archive must read to its end.
            await using (var check = File.OpenRead(temporary))
            await using (var gzip = new GZipStream(check, CompressionMode.Decompress))
            using (var reader = new TarReader(gzip))
            {
                while (await reader.GetNextEntryAsync(copyData: false, cancel).ConfigureAwait(false) is not null)
                {
                }
            }

            File.Move(temporary, archive.FullName, overwrite: true);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or InvalidDataException or ToolException)
        {
            File.Delete(temporary);
            await error.WriteLineAsync("error: the backup failed: " + e.Message).ConfigureAwait(false);
            return e is ToolException tool ? tool.ExitCode : 1;
        }

        archive.Refresh();
        console.Summary(new JsonObject { ["archive"] = archive.FullName, ["bytes"] = archive.Length, ["online"] = true });
        return 0;
    }

    public static async Task<int> RestoreAsync(FileInfo archive, DirectoryInfo data, ScimFastTool.Output console, TextWriter error, CancellationToken cancel)
    {
        if (data.Exists && data.EnumerateFileSystemInfos().Any())
        {
            await error.WriteLineAsync($"error: {data.FullName} is not empty: restore only into an empty or new directory.").ConfigureAwait(false);
            return 2;
        }

        data.Create();
        await using (var file = archive.OpenRead())
        await using (var gzip = new GZipStream(file, CompressionMode.Decompress))
        {
            await TarFile.ExtractToDirectoryAsync(gzip, data.FullName, overwriteFiles: false, cancel).ConfigureAwait(false);
        }

        // The restored store checks itself before anyone serves it.
        ScimTarget target;
        try
        {
            target = await ScimTarget.OpenAsync(data.FullName, null, null, null, "default").ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            // The archive held a store that cannot be recovered: that is the check's finding.
            await error.WriteLineAsync("error: the restored store does not open: " + e.Message).ConfigureAwait(false);
            return 1;
        }

        await using var opened = target;
        var verified = await ScimFastTool.GetJsonAsync(opened.Admin, "admin/verify", cancel).ConfigureAwait(false);
        var problems = verified["problems"]?.AsArray() ?? [];
        console.Summary(new JsonObject { ["restored"] = data.FullName, ["problems"] = problems.DeepClone() });
        return problems.Count == 0 ? 0 : 1;
    }
}
