using BenchmarkDotNet.Running;

// Scim.Fast micro-benchmarks. Pick with --filter, e.g. --filter '*Serialization*'.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
