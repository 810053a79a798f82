using BenchmarkDotNet.Running;

// Scim.Fast micro-benchmarks. Pick with --filter, e.g. --filter '*Serialization*'.
// "store-insert [users] [batch]" runs the timed store load instead (too long for BenchmarkDotNet).
if (args.Length > 0 && args[0] == "store-insert")
{
    await Scim.Fast.Benchmarks.Storage.StoreInsertRun.RunAsync(args);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
