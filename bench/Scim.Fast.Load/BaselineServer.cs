using System.Collections.Concurrent;
using System.Diagnostics;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Scim.Fast.Load;

/// <summary>
/// The bare-HTTP ceiling: a Kestrel endpoint on loopback that answers every request with the bytes
/// the real server gave for a request of the same kind (recorded during the real run), doing no
/// other work. Throughput against it is what Kestrel, the network stack and this client manage on
/// this machine; the real server's throughput is reported as a fraction of it.
/// </summary>
/// <remarks>
/// By default the endpoint runs in a process of its own (this executable's <c>baseline-serve</c>
/// verb), as the real server does: hosted inside the load client it shared the client's thread pool,
/// which on two cores spun and switched less than two processes do, and so set a ceiling no separate
/// server process can reach (README, "The baseline in its own process"). It runs with server GC, as
/// the real server (an ASP.NET Core app) does. <c>--baseline-in-process</c> keeps the old placement.
/// </remarks>
internal sealed class BaselineServer : IAsyncDisposable
{
    /// <summary>The verb that runs the endpoint in its own process: <c>baseline-serve SAMPLES-FILE</c>.</summary>
    public const string ServeVerb = "baseline-serve";

    private const string ListeningPrefix = "listening ";

    private readonly WebApplication? _app;
    private readonly Process? _process;
    private readonly string? _samplesFile;

    private BaselineServer(Uri address, WebApplication? app, Process? process, string? samplesFile)
    {
        Address = address;
        _app = app;
        _process = process;
        _samplesFile = samplesFile;
    }

    public Uri Address { get; }

    /// <summary>Starts the endpoint in this process.</summary>
    public static async Task<BaselineServer> StartAsync(ConcurrentDictionary<string, (int Status, byte[] Body)> samples)
    {
        var app = await StartAppAsync(samples).ConfigureAwait(false);
        return new BaselineServer(AddressOf(app), app, null, null);
    }

    /// <summary>Starts the endpoint in a child process running this executable's <see cref="ServeVerb"/>.</summary>
    public static async Task<BaselineServer> StartProcessAsync(ConcurrentDictionary<string, (int Status, byte[] Body)> samples)
    {
        string file = Path.Combine(Path.GetTempPath(), $"scim-fast-baseline-{Environment.ProcessId}-{Guid.NewGuid():N}.bin");
        WriteSamples(file, samples);
        var start = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };

        // This executable's apphost beside its assembly, or `dotnet` with the assembly (the tests run
        // it from their own output, where the host process is the test host).
        string assembly = typeof(BaselineServer).Assembly.Location;
        string apphost = Path.ChangeExtension(assembly, OperatingSystem.IsWindows() ? ".exe" : null);
        if (File.Exists(apphost))
        {
            start.FileName = apphost;
        }
        else
        {
            start.FileName = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            start.ArgumentList.Add(assembly);
        }

        start.ArgumentList.Add(ServeVerb);
        start.ArgumentList.Add(file);
        start.Environment["DOTNET_gcServer"] = "1";
        var process = Process.Start(start) ?? throw new InvalidOperationException("the baseline process did not start");
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (true)
            {
                string? line = await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"the baseline process ended before listening (exit code {(process.WaitForExit(5_000) ? process.ExitCode : -1)})");
                if (line.StartsWith(ListeningPrefix, StringComparison.Ordinal))
                {
                    return new BaselineServer(new Uri(line[ListeningPrefix.Length..]), null, process, file);
                }
            }
        }
        catch
        {
            Stop(process);
            File.Delete(file);
            throw;
        }
    }

    /// <summary>
    /// The child's side: serves the samples in <paramref name="samplesFile"/>, prints its address, and
    /// ends when its standard input closes (the parent stopped it, or the parent died).
    /// </summary>
    public static async Task<int> ServeAsync(string samplesFile)
    {
        var app = await StartAppAsync(ReadSamples(samplesFile)).ConfigureAwait(false);
        Console.Out.WriteLine(ListeningPrefix + AddressOf(app));
        Console.Out.Flush();
        await Console.In.ReadToEndAsync().ConfigureAwait(false);
        await app.StopAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
        }

        if (_process is not null)
        {
            Stop(_process);
            File.Delete(_samplesFile!);
        }
    }

    private static async Task<WebApplication> StartAppAsync(IReadOnlyDictionary<string, (int Status, byte[] Body)> samples)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.AddServerHeader = false);
        var app = builder.Build();
        app.Run(async context =>
        {
            // Read the request body as the real server would, then answer with the recorded bytes.
            var reader = context.Request.BodyReader;
            while (true)
            {
                var read = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
                reader.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }

            string kind = context.Request.Headers[LoadContext.KindHeader].ToString();
            if (!samples.TryGetValue(kind, out var sample))
            {
                sample = (200, "{}"u8.ToArray());
            }

            context.Response.StatusCode = sample.Status;
            if (sample.Body.Length > 0)
            {
                context.Response.ContentType = "application/scim+json; charset=utf-8";
                await context.Response.BodyWriter.WriteAsync(sample.Body, context.RequestAborted).ConfigureAwait(false);
            }
        });
        await app.StartAsync().ConfigureAwait(false);
        return app;
    }

    private static Uri AddressOf(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    private static void Stop(Process process)
    {
        // Closing its input ends the child; killing it is for one that does not end in time.
        try
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(10_000))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            process.Dispose();
        }
    }

    // The samples file: a count, then per sample its kind, status and body.
    private static void WriteSamples(string file, ConcurrentDictionary<string, (int Status, byte[] Body)> samples)
    {
        using var writer = new BinaryWriter(File.Create(file));
        var snapshot = samples.ToArray();
        writer.Write(snapshot.Length);
        foreach (var (kind, (status, body)) in snapshot)
        {
            writer.Write(kind);
            writer.Write(status);
            writer.Write(body.Length);
            writer.Write(body);
        }
    }

    private static Dictionary<string, (int Status, byte[] Body)> ReadSamples(string file)
    {
        using var reader = new BinaryReader(File.OpenRead(file));
        int count = reader.ReadInt32();
        var samples = new Dictionary<string, (int Status, byte[] Body)>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string kind = reader.ReadString();
            int status = reader.ReadInt32();
            samples[kind] = (status, reader.ReadBytes(reader.ReadInt32()));
        }

        return samples;
    }
}
