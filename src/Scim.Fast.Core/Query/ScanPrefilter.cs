using System.Text;

using Scim.Fast.Core.Schema;

namespace Scim.Fast.Core.Query;

/// <summary>
/// A necessary condition a scan tests on a stored record's JSON bytes before decoding it: a filter
/// that needs a string attribute to equal, contain, start or end with a literal (RFC 7644 §3.4.2.2
/// <c>eq</c>, <c>co</c>, <c>sw</c>, <c>ew</c>) can only match a record whose bytes contain that
/// literal. Most records of a scan fail it and are never decoded (DESIGN-NOTES §9: scans read bytes,
/// not objects). It never rejects a record the filter would match; when the bytes cannot tell (an
/// escape in the JSON, or a non-ASCII character that folds to a letter of a case-insensitive
/// literal) the record is decoded and the compiled filter decides, as without it.
/// </summary>
public sealed class ScanPrefilter
{
    // ASCII letters that a non-ASCII character may equal ignoring case (U+212A Kelvin sign lowers to
    // 'k'; with ICU casing U+017F long s uppers to 'S'): computed from the runtime's own casing,
    // which string comparisons use, both directions, so a superset of what OrdinalIgnoreCase folds.
    private static readonly bool[] s_foldsFromNonAscii = FoldsFromNonAscii();

    // Any of these literals must occur (a filter's or-branches give several).
    private readonly Literal[] _literals;

    private ScanPrefilter(Literal[] literals) => _literals = literals;

    /// <summary>
    /// The prefilter for <paramref name="filter"/>, or null when the filter requires no literal
    /// (<c>pr</c>, <c>ne</c>, <c>not</c>, comparisons of numbers or dates, an attribute not held in
    /// the stored JSON as the filter reads it). <paramref name="inStoredJson"/> says which
    /// attributes are: not derived ones (groups, meta, a group's members) nor ones never stored as
    /// sent.
    /// </summary>
    public static ScanPrefilter? For(FilterNode filter, Func<ScimAttribute, bool> inStoredJson)
    {
        var literals = Required(filter, inStoredJson);
        return literals is null ? null : new ScanPrefilter([.. literals]);
    }

    /// <summary>False only when no record with these JSON bytes can match the filter.</summary>
    public bool MayMatch(ReadOnlySpan<byte> json)
    {
        // An escape (\" \\ \uXXXX …) means the bytes are not the characters: decode.
        if (json.IndexOf((byte)'\\') >= 0)
        {
            return true;
        }

        bool ascii = Ascii.IsValid(json);
        foreach (var literal in _literals)
        {
            if ((!ascii && literal.FoldsFromNonAscii) || literal.OccursIn(json))
            {
                return true;
            }
        }

        return false;
    }

    // The literals of which one must occur, or null for "no requirement".
    private static List<Literal>? Required(FilterNode node, Func<ScimAttribute, bool> inStoredJson)
    {
        switch (node)
        {
            case FilterAnd and:
            {
                // Both sides must hold: either side's requirement will do; the longer literals
                // reject more.
                var left = Required(and.Left, inStoredJson);
                var right = Required(and.Right, inStoredJson);
                if (left is null || right is null)
                {
                    return left ?? right;
                }

                return Shortest(right) > Shortest(left) ? right : left;
            }

            case FilterOr or:
            {
                var left = Required(or.Left, inStoredJson);
                var right = Required(or.Right, inStoredJson);
                if (left is null || right is null)
                {
                    return null;
                }

                left.AddRange(right);
                return left;
            }

            case FilterValuePath valuePath:
                return Required(valuePath.Inner, inStoredJson);

            case FilterComparison comparison when Usable(comparison, inStoredJson):
                // Without escapes a string value is its bytes between quotes: one equal to the
                // literal is "literal", one starting with it "literal…, one ending with it …literal".
                return [new Literal(
                    comparison.Value.String,
                    comparison.Attribute.CaseExact,
                    quoteBefore: comparison.Operator is FilterOperator.Eq or FilterOperator.Sw,
                    quoteAfter: comparison.Operator is FilterOperator.Eq or FilterOperator.Ew)];

            default:
                return null;
        }
    }

    private static bool Usable(FilterComparison comparison, Func<ScimAttribute, bool> inStoredJson)
    {
        if (comparison.Operator is not (FilterOperator.Eq or FilterOperator.Co or FilterOperator.Sw or FilterOperator.Ew)
            || comparison.Attribute.Type != ScimAttributeType.String
            || comparison.Value.Kind != ScimValueKind.String
            || comparison.Attribute.Mutability == ScimMutability.ReadOnly
            || comparison.Attribute.Returned == ScimReturned.Never
            || !inStoredJson(comparison.Attribute))
        {
            return false;
        }

        // Only a non-empty ASCII literal is looked for as bytes.
        string value = comparison.Value.String;
        return value.Length > 0 && Ascii.IsValid(value);
    }

    private static int Shortest(List<Literal> literals)
    {
        int shortest = int.MaxValue;
        foreach (var literal in literals)
        {
            shortest = Math.Min(shortest, literal.Bytes.Length);
        }

        return shortest;
    }

    private static bool[] FoldsFromNonAscii()
    {
        var folds = new bool[128];
        for (int c = 0x80; c <= 0xFFFF; c++)
        {
            if (char.IsSurrogate((char)c))
            {
                continue;
            }

            char upper = char.ToUpperInvariant((char)c);
            char lower = char.ToLowerInvariant((char)c);
            foreach (char folded in (ReadOnlySpan<char>)[upper, lower])
            {
                if (folded < 0x80)
                {
                    folds[char.ToUpperInvariant(folded)] = true;
                    folds[char.ToLowerInvariant(folded)] = true;
                }
            }
        }

        return folds;
    }

    private sealed class Literal
    {
        private readonly bool _quoteBefore;
        private readonly bool _quoteAfter;

        public Literal(string value, bool caseExact, bool quoteBefore, bool quoteAfter)
        {
            CaseExact = caseExact;
            _quoteBefore = quoteBefore;
            _quoteAfter = quoteAfter;
            Bytes = Encoding.ASCII.GetBytes(caseExact ? value : value.ToLowerInvariant());
            if (!caseExact)
            {
                foreach (byte b in Bytes)
                {
                    FoldsFromNonAscii |= s_foldsFromNonAscii[b];
                }

                byte first = Bytes[0];
                (FirstLower, FirstUpper) = ((byte)char.ToLowerInvariant((char)first), (byte)char.ToUpperInvariant((char)first));
            }
        }

        public byte[] Bytes { get; }

        public bool CaseExact { get; }

        /// <summary>A non-ASCII character could match one of this literal's letters, ignoring case.</summary>
        public bool FoldsFromNonAscii { get; }

        private byte FirstLower { get; }

        private byte FirstUpper { get; }

        public bool OccursIn(ReadOnlySpan<byte> json)
        {
            // Candidates by the first byte (in either case unless caseExact; vectorized), then the
            // rest compared, then the quotes the operator asks for around it.
            int from = 0;
            while (json.Length - from >= Bytes.Length)
            {
                int at = CaseExact
                    ? json[from..].IndexOf(Bytes)
                    : json[from..^(Bytes.Length - 1)].IndexOfAny(FirstLower, FirstUpper);
                if (at < 0)
                {
                    return false;
                }

                at += from;
                var candidate = json.Slice(at, Bytes.Length);
                if ((CaseExact || Ascii.EqualsIgnoreCase(candidate, Bytes))
                    && (!_quoteBefore || (at > 0 && json[at - 1] == (byte)'"'))
                    && (!_quoteAfter || (at + Bytes.Length < json.Length && json[at + Bytes.Length] == (byte)'"')))
                {
                    return true;
                }

                from = at + 1;
            }

            return false;
        }
    }
}
