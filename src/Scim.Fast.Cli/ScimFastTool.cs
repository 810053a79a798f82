using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

using Spectre.Console;

namespace Scim.Fast.Cli;

/// <summary>The commands: export, import, verify, tenants list. Each works offline or online (see <see cref="ScimTarget"/>).</summary>
internal static class ScimFastTool
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var data = new Option<DirectoryInfo?>("--data") { Description = "A Scim.Fast data directory, the server stopped (offline)." };
        var target = new Option<string?>("--target") { Description = "A running server's SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2 (online)." };
        var token = new Option<string?>("--token") { Description = "Online: a bearer token of the tenant." };
        var adminToken = new Option<string?>("--admin-token") { Description = "Online: a token from the server's Scim:AdminTokens (export, verify, tenants)." };
        var tenant = new Option<string>("--tenant") { Description = "The tenant (default: the default tenant).", DefaultValueFactory = _ => "default" };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object (no progress display)." };
        Option[] common = [data, target, token, adminToken, tenant, json];

        var outFile = new Option<FileInfo>("--out") { Description = "The NDJSON file to write (one SCIM resource per line: Users, then Groups).", Required = true };
        var export = new Command("export", "Writes a tenant's resources as NDJSON, streamed.");
        Add(export, [.. common, outFile]);
        export.SetAction((parse, cancel) => Run(parse, error, (t, console) => ExportAsync(t, parse.GetValue(tenant)!, parse.GetValue(outFile)!, console, cancel)));

        var inFile = new Option<FileInfo>("--in") { Description = "An NDJSON file as export writes it (Users, then Groups with members), or a CSV of users with --map.", Required = true };
        var map = new Option<FileInfo?>("--map") { Description = "CSV import: the column mapping file (CSV header -> SCIM attribute path; see README)." };
        var errors = new Option<FileInfo?>("--errors") { Description = "Where rejected lines go, each with its SCIM error (default: <in>.errors.ndjson)." };
        var batch = new Option<int>("--batch") { Description = "Users per /Bulk request (default 1000; groups go 100 at a time).", DefaultValueFactory = _ => 1000 };
        var import = new Command("import", "Creates the resources of an NDJSON file (new ids; group members follow their users), or users from a CSV with a column mapping.");
        Add(import, [.. common, inFile, map, errors, batch]);
        import.SetAction((parse, cancel) =>
        {
            // A CSV is read with its mapping before anything is opened: a bad mapping changes nothing.
            CsvUsers? csv;
            try
            {
                csv = parse.GetValue(map) is { } mapping ? CsvUsers.LoadMapping(mapping)
                    : parse.GetValue(inFile)!.Extension.Equals(".csv", StringComparison.OrdinalIgnoreCase) ? throw new ToolException("a CSV import needs --map (the column mapping file).", exitCode: 2)
                    : null;
                csv?.CheckHeader(parse.GetValue(inFile)!);
            }
            catch (ToolException e)
            {
                error.WriteLine("error: " + e.Message);
                return Task.FromResult(e.ExitCode);
            }
            catch (IOException e)
            {
                error.WriteLine("error: " + e.Message);
                return Task.FromResult(2);
            }

            return Run(parse, error, (t, console) => ImportAsync(t, parse.GetValue(inFile)!, csv, parse.GetValue(errors), parse.GetValue(batch), console, cancel), create: true);
        });

        var verify = new Command("verify", "Checks every resource against every index; exit code 1 on any finding.");
        Add(verify, common);
        verify.SetAction((parse, cancel) => Run(parse, error, (t, console) => VerifyAsync(t, console, cancel), damagedExitCode: 1));

        var list = new Command("list", "Lists the tenants with their user and group counts.");
        Add(list, common);
        list.SetAction((parse, cancel) => Run(parse, error, (t, console) => ListTenantsAsync(t, console, cancel)));
        var dropName = new Argument<string>("name") { Description = "The tenant to drop (every resource of it is deleted)." };
        var drop = new Command("drop", "Deletes a named tenant's resources (a background job on the server; waits for it).") { dropName };
        Add(drop, common);
        drop.SetAction((parse, cancel) => Run(parse, error, (t, console) => DropTenantAsync(t, parse.GetValue(dropName)!, console, cancel)));
        var tenants = new Command("tenants", "Tenants of a store or server.") { list, drop };

        var backupData = new Option<DirectoryInfo?>("--data") { Description = "The data directory, the server stopped (offline)." };
        var backupOut = new Option<FileInfo>("--out") { Description = "The archive to write (.tar.gz).", Required = true };
        var backup = new Command("backup", "Copies a data directory into one archive, after a checkpoint: offline (--data) or from a running server, while it takes writes (--target, --admin-token).") { backupData, target, adminToken, backupOut, json };
        backup.SetAction((parse, cancel) =>
        {
            var console = new Output(output, parse.GetValue(json));
            return (parse.GetValue(backupData), parse.GetValue(target)) switch
            {
                ({ } directory, null) => Backups.BackupAsync(directory, parse.GetValue(backupOut)!, console, error, cancel),
                (null, { } url) => Backups.BackupOnlineAsync(url, parse.GetValue(adminToken), parse.GetValue(backupOut)!, console, error, cancel),
                _ => Usage(error, "backup needs either --data (offline) or --target with --admin-token (online)."),
            };
        });

        var restoreIn = new Option<FileInfo>("--in") { Description = "An archive written by backup.", Required = true };
        var restoreData = new Option<DirectoryInfo>("--data") { Description = "An empty or new directory to restore into.", Required = true };
        var restore = new Command("restore", "Restores a backup into an empty directory, then verifies it.") { restoreIn, restoreData, json };
        restore.SetAction((parse, cancel) => Backups.RestoreAsync(parse.GetValue(restoreIn)!, parse.GetValue(restoreData)!, new Output(output, parse.GetValue(json)), error, cancel));

        var root = new RootCommand("scim-fast: import, export and check Scim.Fast data, offline (--data) or online (--target).")
        {
            export, import, verify, tenants, backup, restore, TokenCommands.Create(output, error, json),
        };
        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }).ConfigureAwait(false);

        // damagedExitCode: a store on disk that cannot be recovered is verify's finding (1), and
        // every other command's error (2).
        async Task<int> Run(ParseResult parse, TextWriter errorOut, Func<ScimTarget, Output, Task<int>> action, bool create = false, int damagedExitCode = 2)
        {
            var console = new Output(output, parse.GetValue(json));
            try
            {
                string? directory = parse.GetValue(data)?.FullName;
                await using var opened = directory is not null && create
                    ? await ScimTarget.OpenOrCreateAsync(directory, parse.GetValue(tenant)!).ConfigureAwait(false)
                    : await ScimTarget.OpenAsync(directory, TargetUri(parse.GetValue(target)), parse.GetValue(token), parse.GetValue(adminToken), parse.GetValue(tenant)!).ConfigureAwait(false);
                return await action(opened, console).ConfigureAwait(false);
            }
            catch (ToolException e)
            {
                await errorOut.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
                return e.ExitCode;
            }
            catch (HttpRequestException e)
            {
                await errorOut.WriteLineAsync("error: cannot reach the server: " + e.Message).ConfigureAwait(false);
                return 2;
            }
            catch (IOException e)
            {
                // A store another process has open (ResourceStore's lock), or an unreadable file.
                await errorOut.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
                return 2;
            }
            catch (InvalidDataException e)
            {
                // A store whose files are missing, cut short or damaged: the message names the file
                // and the next step (ResourceStore.Unrecoverable), a stack trace adds nothing.
                await errorOut.WriteLineAsync("error: " + e.Message).ConfigureAwait(false);
                return damagedExitCode;
            }
        }
    }

    private static async Task<int> Usage(TextWriter error, string message)
    {
        await error.WriteLineAsync("error: " + message).ConfigureAwait(false);
        return 2;
    }

    internal static Uri? TargetUri(string? target) =>
        target is null ? null
        : Uri.TryCreate(target, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) ? uri
        : throw new ToolException($"--target must be an http(s) URL, not '{target}'.", exitCode: 2);

    private static void Add(Command command, Option[] options)
    {
        foreach (var option in options)
        {
            command.Options.Add(option);
        }
    }

    private static async Task<int> ExportAsync(ScimTarget target, string tenant, FileInfo file, Output console, CancellationToken cancel)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await target.Admin.GetAsync("admin/tenants/" + Uri.EscapeDataString(tenant) + "/export", HttpCompletionOption.ResponseHeadersRead, cancel).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancel).ConfigureAwait(false);
        long lines = 0;
        await using (var source = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false))
        await using (var sink = file.Create())
        {
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await source.ReadAsync(buffer, cancel).ConfigureAwait(false)) > 0)
            {
                lines += buffer.AsSpan(0, read).Count((byte)'\n');
                await sink.WriteAsync(buffer.AsMemory(0, read), cancel).ConfigureAwait(false);
            }
        }

        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        console.Summary(new JsonObject { ["exported"] = lines, ["file"] = file.FullName, ["seconds"] = Math.Round(seconds, 3) });
        return 0;
    }

    private static async Task<int> ImportAsync(ScimTarget target, FileInfo file, CsvUsers? csv, FileInfo? errorsFile, int batch, Output console, CancellationToken cancel)
    {
        var started = Stopwatch.GetTimestamp();
        var import = new NdjsonImport(target, Math.Clamp(batch, 1, 1000));
        errorsFile ??= new FileInfo(file.FullName + ".errors.ndjson");
        await using (var errors = new StreamWriter(errorsFile.FullName))
        {
            await console.ProgressAsync("importing", () => CountLines(file), progress => csv is null
                ? import.RunAsync(file, errors, progress, cancel)
                : import.RunAsync(csv.Read(file), errors, progress, cancel)).ConfigureAwait(false);
        }

        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        console.Summary(new JsonObject
        {
            ["users"] = import.UsersCreated,
            ["groups"] = import.GroupsCreated,
            ["rejected"] = import.Rejected,
            ["errors"] = import.Rejected > 0 ? errorsFile.FullName : null,
            ["seconds"] = Math.Round(seconds, 3),
            ["resourcesPerSecond"] = Math.Round((import.UsersCreated + import.GroupsCreated) / Math.Max(seconds, 0.001)),
        });
        return import.Rejected > 0 ? 1 : 0;
    }

    private static async Task<int> VerifyAsync(ScimTarget target, Output console, CancellationToken cancel)
    {
        var body = await GetJsonAsync(target.Admin, "admin/verify", cancel).ConfigureAwait(false);
        var problems = body["problems"]?.AsArray() ?? [];
        console.Summary(new JsonObject { ["problems"] = problems.DeepClone() });
        return problems.Count == 0 ? 0 : 1;
    }

    private static async Task<int> ListTenantsAsync(ScimTarget target, Output console, CancellationToken cancel)
    {
        var body = await GetJsonAsync(target.Admin, "admin/tenants", cancel).ConfigureAwait(false);
        console.Table("tenants", body["tenants"]?.AsArray() ?? [], "name", "users", "groups");
        return 0;
    }

    private static async Task<int> DropTenantAsync(ScimTarget target, string name, Output console, CancellationToken cancel)
    {
        string path = "admin/tenants/" + Uri.EscapeDataString(name);
        using (var response = await target.Admin.DeleteAsync(path, cancel).ConfigureAwait(false))
        {
            await EnsureSuccessAsync(response, cancel).ConfigureAwait(false);
        }

        // The drop runs on the server: follow it until it ends.
        while (true)
        {
            var job = await GetJsonAsync(target.Admin, path + "/drop", cancel).ConfigureAwait(false);
            if ((string?)job["state"] != "running")
            {
                console.Summary(job.AsObject().DeepClone().AsObject());
                return (string?)job["state"] == "completed" ? 0 : 1;
            }

            await Task.Delay(200, cancel).ConfigureAwait(false);
        }
    }

    internal static async Task<JsonNode> GetJsonAsync(HttpClient client, string path, CancellationToken cancel)
    {
        using var response = await client.GetAsync(path, cancel).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancel).ConfigureAwait(false);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false))!;
    }

    internal static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancel)
    {
        if (!response.IsSuccessStatusCode)
        {
            string detail = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
            throw new ToolException($"{(int)response.StatusCode} from {response.RequestMessage?.RequestUri?.AbsolutePath}: {detail}", exitCode: 2);
        }
    }

    // Lines with something on them (the progress bar's total): counted in the bytes, not decoded.
    private static long CountLines(FileInfo file)
    {
        using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var buffer = new byte[1 << 20];
        long lines = 0;
        bool content = false;
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            foreach (byte b in buffer.AsSpan(0, read))
            {
                if (b == (byte)'\n')
                {
                    lines += content ? 1 : 0;
                    content = false;
                }
                else if (b != (byte)'\r')
                {
                    content = true;
                }
            }
        }

        return content ? lines + 1 : lines;
    }

    /// <summary>Console output: Spectre's progress and tables for people, one JSON object with --json.</summary>
    internal sealed class Output(TextWriter writer, bool json)
    {
        private readonly IAnsiConsole _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });

        public async Task ProgressAsync(string what, Func<long> total, Func<Action<long>, Task> work)
        {
            if (json || !_console.Profile.Capabilities.Interactive)
            {
                await work(_ => { }).ConfigureAwait(false);
                return;
            }

            await _console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask(what, maxValue: Math.Max(1, total()));
                    await work(done => task.Value = done).ConfigureAwait(false);
                }).ConfigureAwait(false);
        }

        public void Summary(JsonObject result)
        {
            if (json)
            {
                writer.WriteLine(result.ToJsonString());
                return;
            }

            var table = new Table().AddColumn("").AddColumn("");
            foreach (var (key, value) in result)
            {
                table.AddRow(Markup.Escape(key), Markup.Escape(value?.ToJsonString(new JsonSerializerOptions { WriteIndented = false }).Trim('"') ?? "-"));
            }

            _console.Write(table);
        }

        public void Table(string name, JsonArray rows, params string[] columns)
        {
            if (json)
            {
                writer.WriteLine(new JsonObject { [name] = rows.DeepClone() }.ToJsonString());
                return;
            }

            var table = new Table();
            foreach (var column in columns)
            {
                table.AddColumn(column);
            }

            foreach (var row in rows)
            {
                table.AddRow([.. columns.Select(c => Markup.Escape(row?[c]?.ToString() ?? ""))]);
            }

            _console.Write(table);
        }
    }
}
