using System.Buffers;
using System.Globalization;

using Scim.Fast.Core.Errors;
using Scim.Fast.Core.Patch;
using Scim.Fast.Core.Query;
using Scim.Fast.Core.Schema;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Storage.Feed;
using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Server.Protocol;

/// <summary>
/// The protocol semantics of one resource type (RFC 7644 §3.3–3.6), independent of HTTP so that the
/// HTTP endpoints and /Bulk share them: create, read, replace, patch, delete and list, over the
/// store, with the generated reader/writer, the compiled filter and the patcher.
/// </summary>
internal abstract partial class ResourceEndpoint<T>
    where T : class, IScimResource
{
    private static readonly ScimReadOptions s_stored = ScimReadOptions.Trusted;

    private readonly ScimPatcher<T> _patcher;
    private protected readonly FilterParserOptions _filterOptions;

    protected ResourceEndpoint(IResourceStore store, ScimResourceSerializer<T> serializer, ScimResourceAccessor<T> accessor, ScimIndexCatalogue catalogue, byte storeType, ScimLimits limits, string? deltaAttribute)
    {
        Catalogue = catalogue;
        Store = store;
        Serializer = serializer;
        Accessor = accessor;
        StoreType = storeType;
        Limits = limits;
        _patcher = new ScimPatcher<T>(serializer, deltaAttribute);
        _filterOptions = new FilterParserOptions { MaxLength = limits.MaxFilterLength, MaxDepth = limits.MaxFilterDepth };
        Everything = ScimProjection.Everything(serializer.ResourceType);
        _storedFormIsDefaultResponse = StoredFormIsDefaultResponse(serializer.ResourceType);
        _primaryOrdinals = PrimaryOrdinals(serializer.ResourceType);
    }

    private readonly int[] _primaryOrdinals;

    // The stored form holds every attribute; it equals the default response (minus meta.location,
    // meta.version and derived attributes) unless some attribute is returned only on request.
    private protected readonly bool _storedFormIsDefaultResponse;

    private static bool StoredFormIsDefaultResponse(ScimResourceType resourceType)
    {
        for (int ordinal = 0; ordinal < resourceType.OrdinalCount; ordinal++)
        {
            if (resourceType.AttributeAt(ordinal) is { Returned: ScimReturned.Request })
            {
                return false;
            }
        }

        return true;
    }

    public IResourceStore Store { get; }

    public ScimResourceSerializer<T> Serializer { get; }

    public ScimResourceAccessor<T> Accessor { get; }

    public ScimResourceType ResourceType => Serializer.ResourceType;

    /// <summary>The store's number for this resource type.</summary>
    public byte StoreType { get; }

    public ScimLimits Limits { get; }

    /// <summary>Encodes and checks RFC 9865 cursors (the server sets one with its persistent key).</summary>
    public Cursors Cursors { get; set; } = Cursors.WithRandomKey();

    /// <summary>The scan slots of every tenant (shared by the endpoints; see <see cref="ScanGuard"/>).</summary>
    public TenantScans Scans { get; set; } = new();

    protected ScimProjection Everything { get; }

    /// <summary>"Users", "Groups": the endpoint path segment.</summary>
    public string EndpointName => ResourceType.Endpoint.TrimStart('/');

    public string Location(ScimScope scope, string id) => scope.BaseUrl + ResourceType.Endpoint + "/" + Uri.EscapeDataString(id);

    // ---- hooks for the resource type ----

    /// <summary>Takes the delta-managed member list out of a request body (Group.members); null when absent.</summary>
    protected virtual List<string>? TakeMembers(T resource) => null;

    /// <summary>Applies a membership change after the resource itself was written.</summary>
    protected virtual ValueTask<ScimError?> ChangeMembersAsync(ScimScope scope, string id, bool replaceAll, IReadOnlyList<string> added, IReadOnlyList<string> removed, CancellationToken cancellationToken) =>
        ValueTask.FromResult<ScimError?>(null);

    /// <summary>The member change a PUT implies (the whole list replaced), or null for types without members.</summary>
    protected virtual MemberChange? ReplacementMembers(ScimScope scope, string id, List<string>? members) => null;

    /// <summary>Fills derived, readOnly attributes (User.groups) when the projection asks for them.</summary>
    protected virtual void Derive(ScimScope scope, T resource, ScimProjection projection)
    {
    }

    /// <summary>Fills derived attributes needed to evaluate a filter that names them.</summary>
    protected virtual void DeriveForFilter(ScimScope scope, T resource, FilterNode filter)
    {
    }

    /// <summary>
    /// Whether the attribute's values are in the stored JSON as a filter reads them (a scan's
    /// <see cref="ScanPrefilter"/> looks for literals there); false for what lives elsewhere.
    /// </summary>
    protected virtual bool InStoredJson(ScimAttribute attribute) => true;

    /// <summary>Removes what points at a resource that is being deleted (memberships).</summary>
    protected virtual ValueTask OnDeletingAsync(ScimScope scope, string id, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    // ---- operations ----

    /// <summary>Reads a resource as stored, with meta.version and meta.location set.</summary>
    public (T Resource, long Version)? Load(ScimScope scope, string id)
    {
        if (Store.Get(scope.Tenant, StoreType, id) is not { } stored)
        {
            return null;
        }

        return (Decode(scope, stored), stored.Version);
    }

    public bool Exists(ScimScope scope, string id) => Store.Get(scope.Tenant, StoreType, id) is not null;

    /// <summary>Prepares a resource for a response: derived attributes for this projection.</summary>
    public void PrepareForResponse(ScimScope scope, T resource, ScimProjection projection)
    {
        Derive(scope, resource, projection);
        Narrow(resource, projection);
    }

    /// <summary>Whether writes record their change in the change feed (Scim:Events:Enabled).</summary>
    public bool EventsEnabled { get; set; }

    /// <summary>
    /// Which tenants' writes carry their change (null: all, when <see cref="EventsEnabled"/>): on the
    /// embedded store, those with an event stream (see StreamRegistry.Records). Decided as the write
    /// is logged, so a replay of the log after a crash projects the same entries.
    /// </summary>
    public Func<TenantId, bool>? RecordsEventsOf { get; set; }

    private bool RecordsEvents(ScimScope scope) => EventsEnabled && (RecordsEventsOf?.Invoke(scope.Tenant) ?? true);

    // The change a write records (null when events are off or nobody reads the tenant's): the feed
    // turns it into SCIM events.
    private WriteEvent? Change(ScimScope scope, ChangeOperation operation, ActiveChange active, ReadOnlyMemory<byte> data = default) =>
        RecordsEvents(scope) ? new WriteEvent(operation, active, scope.Transaction, data) : null;

    /// <summary>Whether the resource is an active user (User.active, RFC 7643 §4.1.1); false for other types.</summary>
    protected virtual bool IsActive(T resource) => false;

    // RFC 9967: a write that flips a user's active also emits prov:activate or prov:deactivate.
    private ActiveChange Flip(T before, T after) => (IsActive(before), IsActive(after)) switch
    {
        (false, true) => ActiveChange.Activated,
        (true, false) => ActiveChange.Deactivated,
        _ => ActiveChange.None,
    };

    /// <summary>POST (RFC 7644 §3.3).</summary>
    /// <remarks>
    /// With <paramref name="keyed"/> (an Idempotency-Key request), the answer is rendered with the
    /// version the store assigns and recorded in the create's own log record; once this returns,
    /// <see cref="IdempotencyKeys.KeyedRequest.Recorded"/> is set exactly when the create is durable.
    /// </remarks>
    public async ValueTask<ScimOutcome<T>> CreateAsync(ScimScope scope, ReadOnlySequence<byte> body, CancellationToken cancellationToken, IdempotencyKeys.KeyedRequest? keyed = null, ScimProjection? projection = null)
    {
        if (!Serializer.TryRead(body, ScimReadOptions.Request, out var resource, out var error))
        {
            return ScimOutcome<T>.Failed(error);
        }

        long deletionMark = Store.DeletionMark;
        var (item, members, prepareError) = await PrepareCreateAsync(scope, resource, DateTimeOffset.UtcNow).ConfigureAwait(false);
        if (prepareError is not null)
        {
            return ScimOutcome<T>.Failed(prepareError);
        }

        var attachment = keyed is null ? null : new Attachment(keyed.StoreKey, version =>
        {
            // Under the store's locks, before the record is logged: the answer as it will be sent.
            SetResponseMeta(scope, resource, version);
            var rendered = new ArrayBufferWriter<byte>(1024);
            RenderCreated(rendered, scope, resource, members, projection ?? ScimProjection.Default(ResourceType));
            return keyed.Record(201, Location(scope, resource.Id!), ETags.Format(version), rendered.WrittenSpan);
        });
        var (status, version) = await Store.CreateAsync(scope.Tenant, StoreType, item!.Id, item.UniqueKey, item.ExternalId, item.Body, item.IndexEntries, item.Members, cancellationToken, attachment, item.Change).ConfigureAwait(false);
        return await FinishCreateAsync(scope, resource, members, deletionMark, status, version, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The body of a create's answer, rendered into a buffer (the Idempotency-Key record).</summary>
    protected virtual void RenderCreated(IBufferWriter<byte> output, ScimScope scope, T resource, List<string>? members, ScimProjection projection)
    {
        PrepareForResponse(scope, resource, projection);
        Serializer.Write(output, resource, projection);
    }

    /// <summary>
    /// Many creates through the store's batch path: one log commit and one lock acquisition for the
    /// whole run (what makes an initial sync by /Bulk fast). Each item gets the outcome its own POST
    /// would have had.
    /// </summary>
    public async ValueTask<ScimOutcome<T>[]> CreateManyAsync(ScimScope scope, IReadOnlyList<ReadOnlySequence<byte>> bodies, CancellationToken cancellationToken, IReadOnlyList<string?>? transactions = null)
    {
        var outcomes = new ScimOutcome<T>[bodies.Count];
        var items = new List<NewResource>(bodies.Count);
        var itemIndex = new List<int>(bodies.Count);
        var prepared = new (T Resource, List<string>? Members)[bodies.Count];
        var now = DateTimeOffset.UtcNow;
        long deletionMark = Store.DeletionMark;
        for (int i = 0; i < bodies.Count; i++)
        {
            if (!Serializer.TryRead(bodies[i], ScimReadOptions.Request, out var resource, out var readError))
            {
                outcomes[i] = ScimOutcome<T>.Failed(readError);
                continue;
            }

            var itemScope = transactions is null ? scope : scope with { Transaction = transactions[i] };
            var (item, members, error) = await PrepareCreateAsync(itemScope, resource, now).ConfigureAwait(false);
            if (error is not null)
            {
                outcomes[i] = ScimOutcome<T>.Failed(error);
                continue;
            }

            prepared[i] = (resource, members);
            items.Add(item!);
            itemIndex.Add(i);
        }

        var results = items.Count == 0 ? [] : await Store.CreateBatchAsync(scope.Tenant, StoreType, items, cancellationToken).ConfigureAwait(false);
        for (int k = 0; k < results.Length; k++)
        {
            int i = itemIndex[k];
            var (resource, members) = prepared[i];
            outcomes[i] = await FinishCreateAsync(scope, resource, members, deletionMark, results[k].Status, results[k].Version, cancellationToken).ConfigureAwait(false);
        }

        return outcomes;
    }

    // RFC 7644 §3.3 before the store: required attributes, members that exist, and id and meta set
    // by the service provider (RFC 7643 §3.1: whatever the client sent is gone).
    private async ValueTask<(NewResource? Item, List<string>? Members, ScimError? Error)> PrepareCreateAsync(ScimScope scope, T resource, DateTimeOffset now)
    {
        var members = TakeMembers(resource);
        if (CheckRequired(resource) is { } missing)
        {
            return (null, null, missing);
        }

        if (members is not null && await CheckMembersAsync(scope, members, selfId: null).ConfigureAwait(false) is { } badMember)
        {
            return (null, null, badMember);
        }

        resource.Id = ResourceIds.New();
        resource.Meta = new ScimMeta { ResourceType = ResourceType.Name, Created = now, LastModified = now };
        var change = members is { Count: > 0 } ? new MemberChange(false, members, []) : null;
        var keys = KeysOf(resource);
        var created = Change(scope, ChangeOperation.Create, IsActive(resource) ? ActiveChange.Activated : ActiveChange.None);
        return (new NewResource(resource.Id, keys.UniqueKey, keys.ExternalId, Encode(resource), keys.Entries, change, created, IdIsFresh: true), members, null);
    }

    // After the store: a taken unique name is 409 uniqueness whatever the body (RFC 7644 §3.3: a
    // repeated create is a conflict; a client that wants retries to be safe sends Idempotency-Key);
    // members deleted meanwhile are taken out again.
    private async ValueTask<ScimOutcome<T>> FinishCreateAsync(ScimScope scope, T resource, List<string>? members, long deletionMark, StoreStatus status, long version, CancellationToken cancellationToken)
    {
        if (Failure(status, resource.Id!) is { } failure)
        {
            return ScimOutcome<T>.Failed(failure);
        }

        if (members is { Count: > 0 })
        {
            await DropVanishedAsync(scope, resource.Id!, members, deletionMark).ConfigureAwait(false);
        }

        SetResponseMeta(scope, resource, version);
        return new ScimOutcome<T>(201, resource, version, null);
    }

    /// <summary>PUT (RFC 7644 §3.5.1): replaces every readWrite attribute, never creates.</summary>
    public async ValueTask<ScimOutcome<T>> ReplaceAsync(ScimScope scope, string id, ReadOnlySequence<byte> body, long? expectedVersion, bool hasIfMatch, CancellationToken cancellationToken)
    {
        var gate = Gate(scope, id);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await ReplaceLockedAsync(scope, id, body, expectedVersion, hasIfMatch, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private async ValueTask<ScimOutcome<T>> ReplaceLockedAsync(ScimScope scope, string id, ReadOnlySequence<byte> body, long? expectedVersion, bool hasIfMatch, CancellationToken cancellationToken)
    {
        if (!Serializer.TryRead(body, ScimReadOptions.Request, out var resource, out var error))
        {
            return ScimOutcome<T>.Failed(error);
        }

        var members = TakeMembers(resource);
        if (CheckRequired(resource) is { } missing)
        {
            return ScimOutcome<T>.Failed(missing);
        }

        if (Load(scope, id) is not { } current)
        {
            return ScimOutcome<T>.Failed(NotFound(id));
        }

        if (hasIfMatch && expectedVersion != current.Version)
        {
            return ScimOutcome<T>.Failed(PreconditionFailed());
        }

        long deletionMark = Store.DeletionMark;
        if (members is not null && await CheckMembersAsync(scope, members, id).ConfigureAwait(false) is { } badMember)
        {
            return ScimOutcome<T>.Failed(badMember);
        }

        resource.Id = id;
        resource.Meta = new ScimMeta { ResourceType = ResourceType.Name, Created = current.Resource.Meta?.Created, LastModified = DateTimeOffset.UtcNow };
        // PUT replaces the member list too; leaving "members" out empties it (RFC 7644 §3.5.1).
        var change = ReplacementMembers(scope, id, members);
        var keys = KeysOf(resource);
        var replaced = Change(scope, ChangeOperation.Replace, Flip(current.Resource, resource));
        var (status, version) = await Store.ReplaceAsync(scope.Tenant, StoreType, id, current.Version, keys.UniqueKey, keys.ExternalId, Encode(resource), keys.Entries, change, cancellationToken, replaced).ConfigureAwait(false);
        if (status == StoreStatus.VersionMismatch && !hasIfMatch)
        {
            // Writes to one resource are serialized by its gate; a mismatch here means a writer that
            // bypassed it. Say so rather than loop.
            return ScimOutcome<T>.Failed(new ScimError(409, ScimErrorType.None, "The resource changed during the request; retry."));
        }

        if (Failure(status, id) is { } failure)
        {
            return ScimOutcome<T>.Failed(failure);
        }

        if (members is { Count: > 0 })
        {
            await DropVanishedAsync(scope, id, members, deletionMark).ConfigureAwait(false);
        }

        SetResponseMeta(scope, resource, version);
        return new ScimOutcome<T>(200, resource, version, null);
    }

    /// <summary>PATCH (RFC 7644 §3.5.2): all operations apply, or none.</summary>
    public async ValueTask<ScimOutcome<T>> PatchAsync(ScimScope scope, string id, ReadOnlySequence<byte> body, long? expectedVersion, bool hasIfMatch, CancellationToken cancellationToken)
    {
        if (!ScimPatchRequest.TryParse(body, out var request, out var error))
        {
            return ScimOutcome<T>.Failed(error);
        }

        var gate = Gate(scope, id);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The PatchOp as sent is the data of a prov:patch:full event (RFC 9967 §2.4).
            var patchOp = RecordsEvents(scope) ? body.ToArray() : null;
            return await PatchLockedAsync(scope, id, request, patchOp, expectedVersion, hasIfMatch, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    private async ValueTask<ScimOutcome<T>> PatchLockedAsync(ScimScope scope, string id, ScimPatchRequest request, byte[]? patchOp, long? expectedVersion, bool hasIfMatch, CancellationToken cancellationToken)
    {
        ScimError? error;

        // Optimistic: read, apply, compare-and-set; a concurrent change makes us re-read and re-apply,
        // so two PATCHes to one resource never lose each other's changes.
        for (int attempt = 0; ; attempt++)
        {
            if (Load(scope, id) is not { } current)
            {
                return ScimOutcome<T>.Failed(NotFound(id));
            }

            if (hasIfMatch && expectedVersion != current.Version)
            {
                return ScimOutcome<T>.Failed(PreconditionFailed());
            }

            if (!_patcher.TryApply(current.Resource, request, out var result, out error))
            {
                return ScimOutcome<T>.Failed(error);
            }

            if (!result.Changed)
            {
                SetResponseMeta(scope, current.Resource, current.Version);
                return new ScimOutcome<T>(200, current.Resource, current.Version, null);
            }

            var patched = result.Resource;
            var delta = result.Members;
            List<string>? added = null;
            long deletionMark = 0;
            if (!delta.IsEmpty)
            {
                added = new List<string>(delta.Added.Count);
                foreach (var member in delta.Added)
                {
                    if (member["value"] is { } value && value.GetValueKind() == System.Text.Json.JsonValueKind.String)
                    {
                        added.Add(value.GetValue<string>());
                    }
                    else
                    {
                        return ScimOutcome<T>.Failed(ScimError.InvalidValue("Every member needs a string 'value': the id of a User or Group."));
                    }
                }

                deletionMark = Store.DeletionMark;
                if (await CheckMembersAsync(scope, added, id).ConfigureAwait(false) is { } badMember)
                {
                    return ScimOutcome<T>.Failed(badMember);
                }

                foreach (var removed in delta.Removed)
                {
                    if (!ResourceStore.IsValidId(removed))
                    {
                        return ScimOutcome<T>.Failed(ScimError.InvalidValue("A member to remove is not a valid id."));
                    }
                }
            }

            if (CheckRequired(patched) is { } missing)
            {
                return ScimOutcome<T>.Failed(missing);
            }

            patched.Id = id;
            patched.Meta = new ScimMeta { ResourceType = ResourceType.Name, Created = current.Resource.Meta?.Created, LastModified = DateTimeOffset.UtcNow };
            // The new version and the membership delta (O(changed members), DESIGN-NOTES §4) are one
            // log record: applied together or not at all.
            var change = delta.IsEmpty ? null : new MemberChange(delta.RemoveAll, added!, delta.Removed);
            var keys = KeysOf(patched);
            // Whether the PATCH records its event was decided once, when its PatchOp was kept.
            var patchedChange = patchOp is null ? null : new WriteEvent(ChangeOperation.Patch, Flip(current.Resource, patched), scope.Transaction, patchOp);
            var (status, version) = await Store.ReplaceAsync(scope.Tenant, StoreType, id, current.Version, keys.UniqueKey, keys.ExternalId, Encode(patched), keys.Entries, change, cancellationToken, patchedChange).ConfigureAwait(false);
            if (status == StoreStatus.VersionMismatch && !hasIfMatch)
            {
                if (attempt < 16)
                {
                    continue;
                }

                return ScimOutcome<T>.Failed(new ScimError(409, ScimErrorType.None, "The resource kept changing during the request; retry."));
            }

            if (Failure(status, id) is { } failure)
            {
                return ScimOutcome<T>.Failed(failure);
            }

            // A member deleted while this request ran must not stay behind as a dangling id.
            if (added is { Count: > 0 })
            {
                await DropVanishedAsync(scope, id, added, deletionMark).ConfigureAwait(false);
            }

            SetResponseMeta(scope, patched, version);
            return new ScimOutcome<T>(200, patched, version, null);
        }
    }

    /// <summary>DELETE (RFC 7644 §3.6): gone from every query, index and group.</summary>
    public async ValueTask<ScimError?> DeleteAsync(ScimScope scope, string id, long? expectedVersion, bool hasIfMatch, CancellationToken cancellationToken)
    {
        var gate = Gate(scope, id);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Store.Get(scope.Tenant, StoreType, id) is not { } current)
            {
                return NotFound(id);
            }

            if (hasIfMatch && expectedVersion != current.Version)
            {
                return PreconditionFailed();
            }

            // Memberships go first (a crash after this leaves the resource, not a dangling member),
            // then the resource, then once more for a membership added concurrently in between
            // (an add checks that the member exists before and after it writes). Once the first
            // step is under way the cascade is not cancellable: a client hanging up or a deadline
            // must not leave a resource stripped of some memberships but not deleted.
            await OnDeletingAsync(scope, id, CancellationToken.None).ConfigureAwait(false);
            var status = await Store.DeleteAsync(scope.Tenant, StoreType, id, hasIfMatch ? expectedVersion : null, CancellationToken.None, Change(scope, ChangeOperation.Delete, ActiveChange.None)).ConfigureAwait(false);
            if (status == StoreStatus.Ok)
            {
                await OnDeletingAsync(scope, id, CancellationToken.None).ConfigureAwait(false);
            }

            return Failure(status, id);
        }
        finally
        {
            gate.Release();
        }
    }

    // Writes to one resource (PUT, PATCH, DELETE) take its gate, so a group's version bumps and its
    // membership deltas are applied in the same order, and read-modify-write never races itself.
    private readonly SemaphoreSlim[] _gates = [.. Enumerable.Range(0, 256).Select(_ => new SemaphoreSlim(1, 1))];

    private SemaphoreSlim Gate(ScimScope scope, string id) =>
        _gates[(int)((uint)HashCode.Combine(scope.Tenant.Value, string.GetHashCode(id, StringComparison.Ordinal)) % (uint)_gates.Length)];

    // ---- helpers ----

    private T Decode(ScimScope scope, StoredResource stored)
    {
        var resource = DecodeStored(stored.Id, stored.Body);
        SetResponseMeta(scope, resource, stored.Version);
        return resource;
    }

    // The stored form back as the model, without meta.version and meta.location.
    private T DecodeStored(string id, ReadOnlyMemory<byte> body, ScimReadOptions? options = null)
    {
        if (!Serializer.TryRead(new ReadOnlySequence<byte>(body), options ?? s_stored, out var resource, out var error))
        {
            // The store only holds what this server wrote: failing to read it back is a bug or corruption.
            throw new InvalidDataException($"Stored {ResourceType.Name} {id} does not read back: {error}");
        }

        return resource;
    }

    private void SetResponseMeta(ScimScope scope, T resource, long version)
    {
        resource.Meta ??= new ScimMeta { ResourceType = ResourceType.Name };
        resource.Meta.Version = ETags.Format(version);
        resource.Meta.Location = Location(scope, resource.Id!);
    }

    // The stored form: the resource's full JSON (every attribute, password excluded, no derived
    // attributes, no version or location: those come from the record and the request).
    private byte[] Encode(T resource)
    {
        var location = resource.Meta?.Location;
        var version = resource.Meta?.Version;
        if (resource.Meta is { } meta)
        {
            meta.Location = null;
            meta.Version = null;
        }

        BeforeStore(resource);

        // Written into this thread's buffer (synchronous), then copied once at its size: a fresh
        // growing buffer per resource was a fifth of what an initial sync allocated.
        var buffer = t_encodeBuffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        Serializer.Write(buffer, resource, Everything);
        if (resource.Meta is { } restored)
        {
            restored.Location = location;
            restored.Version = version;
        }

        byte[] stored = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > 64 * 1024)
        {
            t_encodeBuffer = null;   // not kept for the next resource: one large group's worth of memory per thread
        }

        return stored;
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_encodeBuffer;

    /// <summary>Clears what must never be stored (password: returned never and not used for sign-in here).</summary>
    protected virtual void BeforeStore(T resource)
    {
    }

    private async ValueTask<ScimError?> CheckMembersAsync(ScimScope scope, List<string> members, string? selfId)
    {
        // All asked at once; the first bad member in the request's order is the one reported.
        var exist = MembersExist(scope, members);
        for (int i = 0; i < members.Count; i++)
        {
            string member = members[i];
            if (member.Length == 0 || member == selfId || !exist[i])
            {
                return ScimError.InvalidValue(member == selfId
                    ? "A group cannot be a member of itself."
                    : $"Member '{member}' is not the id of a User or Group of this tenant.");
            }
        }

        await Task.CompletedTask.ConfigureAwait(false);
        return null;
    }

    // After a durable write that added members: a member deleted while the request ran is taken out
    // again (no dangling id), and the write still succeeds. The write is done, so this part is not
    // cancellable: a client hanging up now must not leave a dangling member behind. No delete since
    // the mark read before the members were checked: nothing can have vanished (half of a group
    // create's member checks in an initial sync). A delete that had removed a member before the
    // check failed the check; one still removing it now runs its membership cascade after, and
    // that cascade finds this write.
    private async ValueTask DropVanishedAsync(ScimScope scope, string id, List<string> added, long deletionMark)
    {
        if (!Store.MayHaveDeletedSince(deletionMark))
        {
            return;
        }

        List<string>? vanished = null;
        var exist = MembersExist(scope, added);
        for (int i = 0; i < added.Count; i++)
        {
            if (!exist[i])
            {
                (vanished ??= []).Add(added[i]);
            }
        }

        if (vanished is not null)
        {
            await ChangeMembersAsync(scope, id, replaceAll: false, [], vanished, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>For each id, whether it names something that can be a member (a User or a Group).</summary>
    protected virtual bool[] MembersExist(ScimScope scope, IReadOnlyList<string> ids) => new bool[ids.Count];

    private ScimError? Failure(StoreStatus status, string id) => status switch
    {
        StoreStatus.Ok => null,
        StoreStatus.NotFound => NotFound(id),
        StoreStatus.VersionMismatch => PreconditionFailed(),
        StoreStatus.UniquenessConflict => ScimError.Uniqueness($"A {ResourceType.Name} with this {UniqueAttributeName} already exists."),
        StoreStatus.AlreadyExists => ScimError.Uniqueness($"{ResourceType.Name} '{id}' already exists."),
        StoreStatus.InvalidValue => ScimError.InvalidValue(InvalidKeyMessage),
        StoreStatus.TooLarge => new ScimError(413, ScimErrorType.None, $"The {ResourceType.Name} is larger than {ResourceStore.MaxRecordBytes} bytes once stored."),
        _ => new ScimError(500, ScimErrorType.None, "Unexpected store status " + status),
    };

    protected ScimError NotFound(string id) => ScimError.NotFound($"{ResourceType.Name} '{id}' not found.");

    // RFC 7644 §3.14: If-Match that does not match the current version.
    private static ScimError PreconditionFailed() => new(412, ScimErrorType.None, "The resource changed: its version no longer matches If-Match.");

    private static ScimError InvalidCursor() => new(400, ScimErrorType.InvalidCursor, "The cursor is not one this server issued for this query (RFC 9865).");
}

/// <summary>One page of a list response.</summary>
internal readonly record struct ListPage<T>(int TotalResults, int? StartIndex, List<T> Resources, string? NextCursor);
