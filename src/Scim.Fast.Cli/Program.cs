using Scim.Fast.Cli;

// scim-fast: the operator's tool (README, "Operations"). Exit codes: 0 done, 1 findings (verify
// problems, rejected import lines), 2 usage or connection errors.
return await ScimFastTool.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
