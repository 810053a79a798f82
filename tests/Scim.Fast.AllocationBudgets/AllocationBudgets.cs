namespace Scim.Fast.AllocationBudgets;

/// <summary>
/// Bytes a hot path may allocate per call. Each entry says what the bytes are; lowering a budget
/// after an optimisation is the point, raising one needs a reason in the commit message.
/// </summary>
public static class AllocationBudgets
{
    /// <summary>Writing a full RFC 7643 §8.2 user into a reused buffer: the generated writer allocates nothing.</summary>
    public const long SerializerWriteUser = 0;

    /// <summary>Evaluating a compiled filter (userName eq, value path, and/or) on a user: nothing.</summary>
    public const long CompiledFilterEvaluation = 0;

    /// <summary>
    /// Parsing and compiling Entra ID's `userName eq "…"` filter: the AST node, the compiled node
    /// and the value string (about 280 bytes measured).
    /// </summary>
    public const long FilterParseAndCompile = 400;

    /// <summary>
    /// GET /scim/v2/Users/{id} through the request handler (routing, token check, store read,
    /// response write) for a full §8.2 user: about 4.3 KB measured, most of it the test's own
    /// DefaultHttpContext and its features (Kestrel pools those); the rest is the base URL,
    /// meta.location and ETag strings, header values and the membership lookup for User.groups.
    /// The stored bytes are copied into a per-thread buffer and then into the response, never decoded
    /// (DESIGN-NOTES §6); before that path it was 16.5 KB.
    /// </summary>
    public const long GetUserById = 5 * 1024;
}
