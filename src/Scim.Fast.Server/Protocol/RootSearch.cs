using System.Buffers;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// One type's share of a root /.search page: its resources, written into the response only when the
/// page is, so a group's members stream from the store as in /Groups instead of being held as
/// objects and serialized bytes (a million-member group was both).
/// </summary>
internal interface IRootSearchPart
{
    int Count { get; }

    /// <summary>Writes the resources into the open "Resources" array, after others when <paramref name="continuesList"/>.</summary>
    Task WriteAsync(HttpContext context, ScimScope scope, bool continuesList);
}

/// <summary>One page of a root /.search: every type's part, in search order.</summary>
internal readonly record struct RootSearchPage(int TotalResults, int? StartIndex, List<IRootSearchPart> Parts, string? NextCursor)
{
    public int ItemsPerPage
    {
        get
        {
            int items = 0;
            foreach (var part in Parts)
            {
                items += part.Count;
            }

            return items;
        }
    }
}

/// <summary>
/// POST /.search (RFC 7644 §3.4.3): every resource type's matches, Users then Groups, each in its
/// own order, paged over the whole by startIndex/count or by cursor (RFC 9865). A filter or sortBy
/// that names attributes of only one type selects from that type; one that fits no type is the
/// type's 400.
/// </summary>
internal sealed class RootSearch(IResourceEndpoint[] endpoints, ScimLimits limits, Cursors cursors)
{
    public ScimError? Search(ScimScope scope, ListQuery query, out RootSearchPage page) =>
        query.Cursor is null ? ByOffset(scope, query, out page) : ByCursor(scope, query, out page);

    /// <summary>Writes the page as one ListResponse (RFC 7644 §3.4.2), each type's part in turn.</summary>
    public static async Task WriteAsync(HttpContext context, ScimScope scope, RootSearchPage page)
    {
        var output = context.Response.BodyWriter;
        var head = new ScimJsonWriter(output);
        ListResponseWriter.WriteHead(ref head, page.TotalResults, page.ItemsPerPage, page.StartIndex, page.NextCursor);
        head.Flush();
        int written = 0;
        foreach (var part in page.Parts)
        {
            if (part.Count == 0)
            {
                continue;
            }

            await part.WriteAsync(context, scope, continuesList: written > 0).ConfigureAwait(false);
            written += part.Count;
        }

        output.Write("]}"u8);
        await ScimResponses.FlushAsync(context).ConfigureAwait(false);
    }

    private ScimError? ByOffset(ScimScope scope, ListQuery query, out RootSearchPage page)
    {
        page = default;
        int count = Math.Clamp(query.Count ?? limits.DefaultCount, 0, limits.MaxCount);
        int skip = query.StartIndex - 1;
        var tally = new Tally();
        var parts = new List<IRootSearchPart>(endpoints.Length);
        int taken = 0;
        foreach (var endpoint in endpoints)
        {
            // The window's part in this type depends only on the types before it: one query each.
            int typeSkip = Math.Max(0, skip - tally.Total);
            var typeError = endpoint.SearchSlice(scope, query, typeSkip, count - taken, out int typeTotal, out var part);
            if (tally.Add(typeError, typeTotal) is { } error)
            {
                return error;
            }

            if (part is not null)
            {
                parts.Add(part);
                taken += part.Count;
            }
        }

        page = new RootSearchPage(tally.Total, query.StartIndex, parts, null);
        return tally.NoTypeTookPart;
    }

    /// <summary>
    /// With a cursor (RFC 9865 §2): the types in search order, each paged by its own cursor. The
    /// root cursor holds the type reached and that type's cursor there, bound (HMAC) to the tenant,
    /// filter and sort; a page that ends a type continues in the next one that has matches.
    /// totalResults counts every type's matches, as without a cursor; nextCursor is left out only
    /// on the last page.
    /// </summary>
    private ScimError? ByCursor(ScimScope scope, ListQuery query, out RootSearchPage page)
    {
        page = default;
        if (query.HasStartIndex)
        {
            return ScimError.InvalidValue("Use either startIndex or cursor, not both (RFC 9865 §2).");
        }

        string context = Cursors.RootContext(scope.Tenant, query.Filter, query.SortBy, query.SortOrder);
        int startType = 0;
        string startCursor = "";
        if (query.Cursor!.Length > 0
            && (!cursors.TryDecodeRoot(context, query.Cursor, out startType, out startCursor) || startType < 0 || startType >= endpoints.Length))
        {
            return new ScimError(400, ScimErrorType.InvalidCursor, "The cursor is not one this server issued for this search (RFC 9865).");
        }

        int count = Math.Clamp(query.Count ?? limits.DefaultCount, 0, limits.MaxCount);
        var tally = new Tally();
        string? nextCursor = null;
        var parts = new List<IRootSearchPart>(endpoints.Length);
        int taken = 0;
        for (int type = 0; type < endpoints.Length; type++)
        {
            // Types before the cursor's only count; the cursor's type pages from its own cursor; the
            // types after it fill what is left of the page from their first, or only count once
            // the next page is known to start earlier.
            bool before = type < startType;
            int take = before || nextCursor is not null ? 0 : count - taken;
            string typeCursor = type == startType ? startCursor : "";
            var typeError = endpoints[type].SearchCursorPage(scope, query, typeCursor, take, out int typeTotal, out string? typeNext, out var part);
            if (tally.Add(typeError, typeTotal) is { } error)
            {
                return error;
            }

            if (part is not null)
            {
                parts.Add(part);
                taken += part.Count;
            }

            if (typeError is not null || before || nextCursor is not null || count == 0)
            {
                continue;
            }

            if (typeNext is not null)
            {
                nextCursor = cursors.EncodeRoot(context, type, typeNext);
            }
            else if (take == 0 && typeTotal > 0)
            {
                // The page filled before this type: it starts the next page.
                nextCursor = cursors.EncodeRoot(context, type, "");
            }
        }

        page = new RootSearchPage(tally.Total, null, parts, nextCursor);
        return tally.NoTypeTookPart;
    }

    // The types' answers so far: their totals, and whether any took part.
    private struct Tally
    {
        private int _applicable;
        private ScimError? _firstError;

        public int Total { get; private set; }

        /// <summary>The search's error if this type's answer ends it (null: go on).</summary>
        public ScimError? Add(ScimError? typeError, int typeTotal)
        {
            if (typeError is null)
            {
                _applicable++;
                Total += typeTotal;
                return null;
            }

            // A filter or sortBy naming attributes this type lacks: the type takes no part.
            if (typeError.Type is ScimErrorType.InvalidFilter or ScimErrorType.InvalidPath)
            {
                _firstError ??= typeError;
                return null;
            }

            return typeError;
        }

        /// <summary>The first type's error when no type could answer the query at all.</summary>
        public readonly ScimError? NoTypeTookPart => _applicable == 0 ? _firstError : null;
    }
}
