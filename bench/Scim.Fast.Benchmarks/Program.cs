using BenchmarkDotNet.Running;

// Scim.Fast micro-benchmarks. Pick with --filter, e.g. --filter '*Serialization*'.
// "store-insert [users] [batch]" and "store-members [members] [operations]" run timed store loads
// instead (too long for BenchmarkDotNet).
if (args.Length > 0 && args[0] == "store-insert")
{
    await Scim.Fast.Benchmarks.Storage.StoreInsertRun.RunAsync(args);
    return;
}

if (args.Length > 0 && args[0] == "store-members")
{
    await Scim.Fast.Benchmarks.Storage.StoreMembersRun.RunAsync(args);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Scim.Fast.Benchmarks.EndToEnd.RoutingBenchmarks).Assembly).Run(args);
