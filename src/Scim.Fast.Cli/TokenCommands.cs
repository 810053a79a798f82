using System.CommandLine;
using System.Text.Json.Nodes;

using Scim.Fast.Server;

namespace Scim.Fast.Cli;

/// <summary>
/// <c>scim-fast tokens add|list|revoke</c>: bearer tokens kept (as SHA-256 hashes) in the data
/// directory's <c>tokens.json</c>, which a running server watches: a token works, or stops working,
/// within about a second, no restart. The token itself is printed once, by <c>add</c>.
/// </summary>
internal static class TokenCommands
{
    public static Command Create(TextWriter output, TextWriter error, Option<bool> json)
    {
        var data = new Option<DirectoryInfo>("--data") { Description = "The server's data directory (running or stopped).", Required = true };

        var tenant = new Option<string>("--tenant") { Description = "The tenant the token is for (default: the default tenant).", DefaultValueFactory = _ => "default" };
        var admin = new Option<bool>("--admin") { Description = "An administration token (the admin API and /metrics) instead of a tenant's." };
        var description = new Option<string?>("--description") { Description = "A note kept with the token (who or what uses it)." };
        var add = new Command("add", "Issues a new token and prints it once; only its hash is kept.") { data, tenant, admin, description, json };
        add.SetAction(parse => Run(error, () =>
        {
            string name = parse.GetValue(admin) ? IssuedToken.Admin : parse.GetValue(tenant)!;
            if (name.Length == 0 || (name != IssuedToken.Admin && name.Contains('/')))
            {
                throw new ToolException($"'{name}' is not a tenant name.", exitCode: 2);
            }

            var (token, entry) = IssuedTokens.Add(parse.GetValue(data)!.FullName, name, parse.GetValue(description));
            var result = Describe(entry);
            result["token"] = token;
            new ScimFastTool.Output(output, parse.GetValue(json)).Summary(result);
            if (!parse.GetValue(json))
            {
                output.WriteLine("The token is shown only this once; the server keeps its SHA-256.");
            }

            return 0;
        }));

        var list = new Command("list", "Lists issued tokens (ids, tenants, dates and notes; never the tokens).") { data, json };
        list.SetAction(parse => Run(error, () =>
        {
            var rows = new JsonArray();
            foreach (var entry in IssuedTokens.Read(parse.GetValue(data)!.FullName))
            {
                rows.Add(Describe(entry));
            }

            new ScimFastTool.Output(output, parse.GetValue(json)).Table("tokens", rows, "id", "tenant", "created", "description");
            return 0;
        }));

        var id = new Argument<string>("id") { Description = "The token's id (tok_…, from list or add)." };
        var revoke = new Command("revoke", "Revokes a token by its id: requests with it are refused from then on.") { id, data, json };
        revoke.SetAction(parse => Run(error, () =>
        {
            string which = parse.GetValue(id)!;
            if (!IssuedTokens.Revoke(parse.GetValue(data)!.FullName, which))
            {
                throw new ToolException($"no issued token has the id '{which}'.", exitCode: 1);
            }

            new ScimFastTool.Output(output, parse.GetValue(json)).Summary(new JsonObject { ["revoked"] = which });
            return 0;
        }));

        return new Command("tokens", "Bearer tokens in the data directory's tokens.json (a running server applies changes at once).") { add, list, revoke };
    }

    private static JsonObject Describe(IssuedToken entry) => new()
    {
        ["id"] = entry.Id,
        ["tenant"] = entry.Tenant == IssuedToken.Admin ? "(admin)" : entry.Tenant,
        ["created"] = entry.Created.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        ["description"] = entry.Description,
    };

    private static int Run(TextWriter error, Func<int> action)
    {
        try
        {
            return action();
        }
        catch (ToolException e)
        {
            error.WriteLine("error: " + e.Message);
            return e.ExitCode;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or System.Text.Json.JsonException)
        {
            error.WriteLine("error: " + e.Message);
            return 2;
        }
    }
}
