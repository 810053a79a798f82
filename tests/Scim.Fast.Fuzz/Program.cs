using System.Diagnostics;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.CompilerServices;

namespace Scim.Fast.Fuzz;

/// <summary>
/// <c>dotnet run -c Release --project tests/Scim.Fast.Fuzz -- [--target NAME|all] [--seconds N] [--save] [--minimize]</c>.
/// Instruments its own copies of the Scim.Fast assemblies (SharpFuzz: every branch edge counts into a
/// 64 KiB bitmap), then fuzzes each target: inputs from the committed corpus, mutated, kept when
/// they reach new edges. A target that throws is a crash: the input is written to crashes/ and the
/// exit code is 1. With --save, inputs that found new edges are added to the corpus; --minimize
/// shrinks the corpus to the smallest inputs that keep its coverage.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Before any type of these assemblies is loaded: they are loaded from these files below.
        foreach (var name in new[] { "Scim.Fast.Core.dll", "Scim.Fast.Server.dll" })
        {
            string path = Path.Combine(AppContext.BaseDirectory, name);
            if (!IsInstrumented(path))
            {
                SharpFuzz.Fuzzer.Instrument(path, ns => ns.StartsWith("Scim.Fast", StringComparison.Ordinal), SharpFuzz.Options.Value);
            }
        }

        return Run(args);
    }

    // SharpFuzz rewrites the assembly to reference SharpFuzz.Common (its coverage bitmap).
    private static bool IsInstrumented(string path)
    {
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        var metadata = pe.GetMetadataReader();
        foreach (var handle in metadata.AssemblyReferences)
        {
            if (metadata.GetString(metadata.GetAssemblyReference(handle).Name) == "SharpFuzz.Common")
            {
                return true;
            }
        }

        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe int Run(string[] args)
    {
        // The instrumented code writes every edge it takes into this map, from the first
        // instruction on (static constructors included): it must exist before anything runs.
        byte* map = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(CoverageLoop.MapSize);
        SharpFuzz.Common.Trace.SharedMem = map;

        string target = Option(args, "--target") ?? "all";
        double seconds = double.Parse(Option(args, "--seconds") ?? "10", System.Globalization.CultureInfo.InvariantCulture);
        bool save = args.Contains("--save");
        string root = FindCorpusRoot();
        var names = target == "all" ? FuzzTargets.All.Keys.ToList() : [target];
        int crashes = 0;
        long executions = 0;
        foreach (var name in names)
        {
            var (run, dictionary) = FuzzTargets.All[name];
            if (args.Contains("--minimize"))
            {
                int kept = new CoverageLoop(map, name, run, dictionary, Path.Combine(root, "corpus", name), Path.Combine(root, "crashes", name), save: false).Minimize();
                Console.WriteLine($"{name,-15} corpus minimized to {kept} inputs");
                continue;
            }

            var loop = new CoverageLoop(map, name, run, dictionary, Path.Combine(root, "corpus", name), Path.Combine(root, "crashes", name), save);
            var result = loop.Run(TimeSpan.FromSeconds(seconds));
            executions += result.Executions;
            crashes += result.Crashes;
            Console.WriteLine($"{name,-15} {result.Executions,10:N0} executions  {result.Executions / seconds,8:N0}/s  corpus {result.CorpusSize,5} ({result.NewInputs} new)  edges {result.Edges,6}  crashes {result.Crashes}");
        }

        Console.WriteLine($"fuzz: {executions:N0} executions over {names.Count} targets, {crashes} crashes");
        return crashes == 0 ? 0 : 1;
    }

    private static string? Option(string[] args, string name)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    // tests/Scim.Fast.Fuzz in the source tree (the corpus is committed there).
    private static string FindCorpusRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Scim.Fast.sln")))
        {
            directory = directory.Parent;
        }

        return directory is null ? Path.Combine(AppContext.BaseDirectory, "fuzz") : Path.Combine(directory.FullName, "tests", "Scim.Fast.Fuzz");
    }
}

/// <summary>
/// A small in-process AFL: edge coverage from SharpFuzz's bitmap (hit counts bucketed as AFL does),
/// a queue of inputs that found new edges, havoc mutations, splicing and dictionary tokens.
/// </summary>
internal sealed unsafe class CoverageLoop(byte* map, string name, FuzzTargets.Target target, string[] dictionary, string corpusDirectory, string crashDirectory, bool save)
{
    public const int MapSize = 1 << 16;
    private const int MaxInput = 4096;
    private readonly byte[] _virgin = new byte[MapSize];
    private readonly List<byte[]> _queue = [];
    private readonly byte[][] _tokens = [.. dictionary.Select(t => System.Text.Encoding.UTF8.GetBytes(t))];
    private readonly Random _random = new(unchecked((int)DateTime.UtcNow.Ticks));
    private readonly HashSet<string> _crashSignatures = [];

    public readonly record struct Result(long Executions, int Crashes, int CorpusSize, int NewInputs, int Edges);

    public Result Run(TimeSpan duration)
    {
        {
            long executions = 0;
            int newInputs = 0;
            var seeds = Directory.Exists(corpusDirectory) ? Directory.GetFiles(corpusDirectory).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList() : [];
            if (seeds.Count == 0)
            {
                seeds.Add([]);
            }

            foreach (var seed in seeds)
            {
                executions++;
                if (Execute(seed) || _queue.Count == 0)
                {
                    _queue.Add(seed);
                }
            }

            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration)
            {
                var parent = _queue[_random.Next(_queue.Count)];
                for (int i = 0; i < 64; i++)
                {
                    var child = Mutate(parent);
                    executions++;
                    if (Execute(child))
                    {
                        _queue.Add(child);
                        newInputs++;
                        if (save)
                        {
                            Directory.CreateDirectory(corpusDirectory);
                            File.WriteAllBytes(Path.Combine(corpusDirectory, Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(child))[..16].ToLowerInvariant()), child);
                        }
                    }
                }
            }

            int edges = 0;
            foreach (byte b in _virgin)
            {
                edges += b == 0 ? 0 : 1;
            }

            return new Result(executions, _crashSignatures.Count, _queue.Count, newInputs, edges);
        }
    }

    /// <summary>
    /// Keeps the smallest inputs that together reach every edge the corpus reaches (smallest first,
    /// each kept only if it adds coverage) and deletes the rest; returns how many are kept.
    /// </summary>
    public int Minimize()
    {
        int kept = 0;
        foreach (var file in Directory.GetFiles(corpusDirectory).OrderBy(f => new FileInfo(f).Length).ThenBy(f => f, StringComparer.Ordinal))
        {
            if (Execute(File.ReadAllBytes(file)))
            {
                kept++;
            }
            else
            {
                File.Delete(file);
            }
        }

        return kept;
    }

    // Runs one input; true when it reached an edge (or a hit-count bucket) not seen before.
    private bool Execute(byte[] input)
    {
        new Span<byte>(map, MapSize).Clear();
        SharpFuzz.Common.Trace.PrevLocation = 0;
        try
        {
            target(input);
        }
        catch (Exception e)
        {
            Crash(input, e);
        }

        bool found = false;
        for (int i = 0; i < MapSize; i++)
        {
            byte hits = map[i];
            if (hits == 0)
            {
                continue;
            }

            byte bucket = hits switch { 1 => 1, 2 => 2, 3 => 4, <= 7 => 8, <= 15 => 16, <= 31 => 32, <= 127 => 64, _ => 128 };
            if ((_virgin[i] & bucket) == 0)
            {
                _virgin[i] |= bucket;
                found = true;
            }
        }

        return found;
    }

    private void Crash(byte[] input, Exception e)
    {
        // One file per distinct exception site.
        string signature = e.GetType().Name + " " + (e.StackTrace?.Split('\n').FirstOrDefault()?.Trim() ?? "");
        if (!_crashSignatures.Add(signature))
        {
            return;
        }

        Directory.CreateDirectory(crashDirectory);
        string file = Path.Combine(crashDirectory, "crash-" + Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(input))[..16].ToLowerInvariant());
        File.WriteAllBytes(file, input);
        Console.WriteLine($"CRASH in {name}: {e.GetType().Name}: {e.Message}\n  input: {file}\n{e.StackTrace}");
    }

    private byte[] Mutate(byte[] parent)
    {
        var data = new List<byte>(parent);
        int rounds = 1 << _random.Next(1, 5);
        for (int r = 0; r < rounds; r++)
        {
            switch (_random.Next(data.Count == 0 ? 2 : 9))
            {
                case 0:
                    Insert(data, _tokens.Length > 0 ? _tokens[_random.Next(_tokens.Length)] : [(byte)_random.Next(256)]);
                    break;
                case 1:
                    Insert(data, [(byte)_random.Next(256)]);
                    break;
                case 2:
                    data[_random.Next(data.Count)] ^= (byte)(1 << _random.Next(8));
                    break;
                case 3:
                    data[_random.Next(data.Count)] = Interesting();
                    break;
                case 4:
                {
                    int at = _random.Next(data.Count);
                    data.RemoveRange(at, Math.Min(data.Count - at, 1 + _random.Next(16)));
                    break;
                }

                case 5:
                {
                    int at = _random.Next(data.Count);
                    int length = Math.Min(data.Count - at, 1 + _random.Next(32));
                    Insert(data, data.GetRange(at, length).ToArray());
                    break;
                }

                case 6:
                {
                    // Splice: a piece of another queued input.
                    var other = _queue[_random.Next(_queue.Count)];
                    if (other.Length > 0)
                    {
                        int at = _random.Next(other.Length);
                        Insert(data, other.AsSpan(at, Math.Min(other.Length - at, 1 + _random.Next(64))).ToArray());
                    }

                    break;
                }

                case 7:
                {
                    // Overwrite with a token.
                    if (_tokens.Length > 0)
                    {
                        var token = _tokens[_random.Next(_tokens.Length)];
                        int at = _random.Next(data.Count);
                        for (int i = 0; i < token.Length && at + i < data.Count; i++)
                        {
                            data[at + i] = token[i];
                        }
                    }

                    break;
                }

                default:
                    Insert(data, _tokens.Length > 0 ? _tokens[_random.Next(_tokens.Length)] : [0]);
                    break;
            }
        }

        if (data.Count > MaxInput)
        {
            data.RemoveRange(MaxInput, data.Count - MaxInput);
        }

        return [.. data];
    }

    private void Insert(List<byte> data, byte[] bytes) => data.InsertRange(_random.Next(data.Count + 1), bytes);

    private byte Interesting() => _random.Next(8) switch
    {
        0 => 0,
        1 => 0xFF,
        2 => 0x7F,
        3 => 0x80,
        4 => (byte)'"',
        5 => (byte)'\\',
        6 => 0xED,
        _ => (byte)_random.Next(256),
    };
}
