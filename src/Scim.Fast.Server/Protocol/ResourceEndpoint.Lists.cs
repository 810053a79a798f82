using System.Buffers;

using Microsoft.AspNetCore.Http;

using Scim.Fast.Core;
using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// List requests over HTTP (RFC 7644 §3.4.2, §3.4.3): GET on the collection, POST .search, this
/// type's part of a root /.search, the identity providers' one-candidate lookups answered from the
/// stored bytes, and the ListResponse writers. The query itself: ResourceEndpoint.Query.cs.
/// </summary>
internal abstract partial class ResourceEndpoint<T>
{
    public async Task HandleSearchAsync(HttpContext context, ScimScope scope)
    {
        await WithBodyAsync(context, Limits.MaxBodyBytes, async body =>
        {
            if (!ListQuery.TryFromSearchRequest(body, out var query, out var error))
            {
                await ScimResponses.Error(context, error).ConfigureAwait(false);
                return;
            }

            await ListAsync(context, scope, query).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    public ScimError? SearchSlice(ScimScope scope, ListQuery query, int skip, int take, out int total, out IRootSearchPart? part)
    {
        var slice = new ListQuery
        {
            Filter = query.Filter,
            SortBy = query.SortBy,
            SortOrder = query.SortOrder,
            StartIndex = skip + 1,
            HasStartIndex = true,
            Count = take,
        };
        return Search(scope, query, slice, out total, out _, out part);
    }

    public ScimError? SearchCursorPage(ScimScope scope, ListQuery query, string cursor, int take, out int total, out string? nextCursor, out IRootSearchPart? part)
    {
        var page = new ListQuery
        {
            Filter = query.Filter,
            SortBy = query.SortBy,
            SortOrder = query.SortOrder,
            Cursor = cursor,
            Count = take,
        };
        return Search(scope, query, page, out total, out nextCursor, out part);
    }

    // One type's part of a root /.search: its page, written with the search's projection when the
    // whole page is (a group's members streamed then, as in this type's own lists).
    private ScimError? Search(ScimScope scope, ListQuery query, ListQuery slice, out int total, out string? nextCursor, out IRootSearchPart? part)
    {
        total = 0;
        nextCursor = null;
        part = null;
        var error = Query(scope, slice, out var page);
        if (error is not null)
        {
            return error;
        }

        total = page.TotalResults;
        nextCursor = page.NextCursor;
        if (!ScimProjection.TryCreate(ResourceType, query.Attributes, query.ExcludedAttributes, out var projection, out var projectionError))
        {
            return projectionError;
        }

        part = new SearchPart(this, page.Resources, projection);
        return null;
    }

    private sealed class SearchPart(ResourceEndpoint<T> endpoint, List<T> resources, ScimProjection projection) : IRootSearchPart
    {
        public int Count => resources.Count;

        public Task WriteAsync(HttpContext context, ScimScope scope, bool continuesList) =>
            endpoint.WriteResourcesAsync(context, scope, resources, projection, continuesList);
    }

    /// <summary>
    /// Writes resources as items of a ListResponse's "Resources" array already open in the response,
    /// after others when <paramref name="continuesList"/>; groups stream their members instead.
    /// </summary>
    protected virtual Task WriteResourcesAsync(HttpContext context, ScimScope scope, List<T> resources, ScimProjection projection, bool continuesList)
    {
        var output = context.Response.BodyWriter;
        var writer = new ScimJsonWriter(output, continuesList);
        foreach (var resource in resources)
        {
            PrepareForResponse(scope, resource, projection);
            Serializer.Write(ref writer, resource, projection);
        }

        writer.Flush();
        return ScimResponses.FlushAsync(context);
    }

    private async Task ListAsync(HttpContext context, ScimScope scope, ListQuery query)
    {
        // The identity providers' lookup (userName eq / externalId eq / id eq, default attributes):
        // answered from the index and the stored bytes, nothing decoded. The filter is parsed once,
        // here, and handed on when the lookup is not of that shape.
        FilterNode? filter = null;
        if (ListsFromStoredBytes && query.Cursor is null && string.IsNullOrEmpty(query.SortBy) && string.IsNullOrEmpty(query.Attributes)
            && string.IsNullOrEmpty(query.ExcludedAttributes) && _storedFormIsDefaultResponse && !string.IsNullOrWhiteSpace(query.Filter))
        {
            if (!FilterParser.TryParse(query.Filter, ResourceType, out filter, out var filterError, _filterOptions))
            {
                await ScimResponses.Error(context, filterError).ConfigureAwait(false);
                return;
            }

            // An equality an index answers (userName eq, externalId eq, id eq, emails.value eq): the
            // index entry, then the resource, each awaited when on disk (README "Known gaps": the
            // entry's read held a thread before). A lookup that only narrows (emails.value, keyed
            // case-insensitively) has its few candidates read and filtered here, awaited too. Null
            // (an overflowed key) or many candidates: the query below.
            if (filter is FilterComparison { Operator: FilterOperator.Eq, Value.Kind: ScimValueKind.String } comparison
                && TryIndexCandidates(scope, comparison, out var lookup, out bool exact) && await lookup.ConfigureAwait(false) is { } found
                && (exact || found.Count <= MaxLookupCandidatesFiltered))
            {
                var matches = exact ? [.. found] : await MatchingAsync(scope, filter, found).ConfigureAwait(false);
                matches.Sort(StringComparer.Ordinal);
                int pageCount = Math.Clamp(query.Count ?? Limits.DefaultCount, 0, Limits.MaxCount);
                await ListCandidatesAsync(context, scope, query, matches, pageCount).ConfigureAwait(false);
                return;
            }
        }

        var error = Query(scope, query, out var page, filter);
        if (error is not null)
        {
            await ScimResponses.Error(context, error).ConfigureAwait(false);
            return;
        }

        if (!ScimProjection.TryCreate(ResourceType, query.Attributes, query.ExcludedAttributes, out var projection, out var projectionError))
        {
            await ScimResponses.Error(context, projectionError).ConfigureAwait(false);
            return;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ScimResponses.MediaType;
        await WriteListAsync(context, scope, page, projection).ConfigureAwait(false);
    }

    // A lookup's candidates filtered here rather than by the query: a shared address (emails.value)
    // names a handful of users; more than this go through the query's blocks.
    private const int MaxLookupCandidatesFiltered = 16;

    // The candidates the filter matches, each record read with an await when it is on disk and
    // decoded as the query decodes it (RFC 7644 §3.4.2.2: the comparison is the attribute's own,
    // case-insensitive for emails.value, which the lookup's folded key only approximates). The page
    // reads its matches again (ListCandidatesAsync), by then mostly from memory: keeping the bodies
    // here would tie them to this thread's scratch buffer across the awaits in between.
    private async Task<List<string>> MatchingAsync(ScimScope scope, FilterNode filter, IReadOnlyList<string> candidates)
    {
        var compiled = CompiledFilter<T>.Compile(filter, Accessor);
        var readOptions = ReadOptionsFor(filter, sortAttribute: null);
        var matches = new List<string>(candidates.Count);
        foreach (string id in candidates)
        {
            var (found, body, version) = await ReadBodyAsync(scope, id).ConfigureAwait(false);
            if (!found)
            {
                continue;
            }

            // Decoded before the next read: the body may be this thread's scratch buffer.
            var resource = DecodeStored(id, body, readOptions);
            SetResponseMeta(scope, resource, version);
            DeriveForFilter(scope, resource, filter);
            if (compiled.Matches(resource))
            {
                matches.Add(id);
            }
        }

        return matches;
    }

    // A filter an index answers exactly: the candidates are the matches. One candidate on the
    // first page (a unique name, an id) is read as GET reads it, awaiting the disk instead of
    // blocking a pool thread (issue 18); more go through the stored-bytes list writer.
    private async Task ListCandidatesAsync(HttpContext context, ScimScope scope, ListQuery query, List<string> candidates, int pageCount)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = ScimResponses.MediaType;
        if (candidates.Count == 1 && query.StartIndex == 1 && pageCount > 0)
        {
            await ListOneAsync(context, scope, candidates[0]).ConfigureAwait(false);
            return;
        }

        WriteStoredList(context.Response.BodyWriter, scope, query, candidates);
        await ScimResponses.FlushAsync(context).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether exact lookups are answered from the stored bytes in one buffer (users); groups answer
    /// through <see cref="WriteListAsync"/>, which streams their members.
    /// </summary>
    protected virtual bool ListsFromStoredBytes => true;

    /// <summary>Writes a ListResponse page into the response (groups stream their members instead).</summary>
    protected virtual Task WriteListAsync(HttpContext context, ScimScope scope, ListPage<T> page, ScimProjection projection)
    {
        WriteList(context.Response.BodyWriter, scope, page, projection);
        return ScimResponses.FlushAsync(context);
    }

    // A list of the one candidate, read like GET reads (ReadStoredAsync): derived attributes
    // and the body read with awaits when they are on disk.
    private async Task ListOneAsync(HttpContext context, ScimScope scope, string id)
    {
        object? derived = await LoadDerivedAsync(scope, id).ConfigureAwait(false);
        var (found, body, version) = await ReadBodyAsync(scope, id).ConfigureAwait(false);
        WriteListOfOne(context.Response.BodyWriter, scope, id, found, body.Span, version, derived);
        await ScimResponses.FlushAsync(context).ConfigureAwait(false);
    }

    // A ListResponse of one stored resource, or of none when it was not found (RFC 7644 §3.4.2).
    private void WriteListOfOne(IBufferWriter<byte> output, ScimScope scope, string id, bool found, ReadOnlySpan<byte> body, long version, object? derived)
    {
        found = found && IsSpliceable(body);
        var head = new ScimJsonWriter(output);
        ListResponseWriter.WriteHead(ref head, found ? 1 : 0, found ? 1 : 0, 1, nextCursor: null);
        if (found)
        {
            head.Flush();
            var item = new ScimJsonWriter(output);
            WriteStoredHead(ref item, scope, id, body, version);
            WriteDerivedRaw(ref item, scope, id, derived);
            item.WriteEndObject();
            item.Flush();
        }

        head.WriteEndArray();
        head.WriteEndObject();
        head.Flush();
    }

    private void WriteStoredList(IBufferWriter<byte> output, ScimScope scope, ListQuery query, List<string> ids)
    {
        // One candidate on the first page never gets here: ListCandidatesAsync reads it as GET does.
        int count = Math.Clamp(query.Count ?? Limits.DefaultCount, 0, Limits.MaxCount);
        var scratch = t_scratch ??= new ArrayBufferWriter<byte>(8192);
        scratch.ResetWrittenCount();

        // Existence first: totalResults counts only what is there (an id lookup may miss).
        var present = new List<string>(ids.Count);
        foreach (var id in ids)
        {
            if (Store.Exists(scope.Tenant, StoreType, id))
            {
                present.Add(id);
            }
        }

        int skip = Math.Min(query.StartIndex - 1, present.Count);
        int returned = Math.Max(0, Math.Min(count, present.Count - skip));
        var writer = new ScimJsonWriter(output);
        ListResponseWriter.WriteHead(ref writer, present.Count, returned, query.StartIndex, nextCursor: null);
        bool first = true;
        for (int i = skip; i < skip + returned; i++)
        {
            scratch.ResetWrittenCount();
            if (!Store.TryReadBody(scope.Tenant, StoreType, present[i], scratch, out var body, out long version) || !IsSpliceable(body.Span))
            {
                // Deleted between the two reads: an empty object would be wrong, so write nothing;
                // itemsPerPage may then overstate by one, which clients tolerate better than a gap.
                continue;
            }

            // Each stored document is reopened: a comma between them, none before the first.
            if (!first)
            {
                writer.WriteRawFragment(","u8);
            }

            first = false;
            // The outer writer commits its bytes before the item's writer takes a span after them.
            writer.Flush();
            var item = new ScimJsonWriter(output);
            WriteStoredHead(ref item, scope, present[i], body.Span, version);
            WriteDerivedRaw(ref item, scope, present[i], LoadDerived(scope, present[i]));
            item.WriteEndObject();
            item.Flush();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
    }

    // RFC 7644 §3.4.2: ListResponse; "Resources" always present (Okta fails on a missing one),
    // itemsPerPage = the number returned. RFC 9865 adds nextCursor.
    private void WriteList(IBufferWriter<byte> output, ScimScope scope, ListPage<T> page, ScimProjection projection)
    {
        var writer = new ScimJsonWriter(output);
        ListResponseWriter.WriteHead(ref writer, page.TotalResults, page.Resources.Count, page.StartIndex, page.NextCursor);
        foreach (var resource in page.Resources)
        {
            PrepareForResponse(scope, resource, projection);
            Serializer.Write(ref writer, resource, projection);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
    }
}
