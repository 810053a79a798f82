using System.Text.Json.Nodes;

using BenchmarkDotNet.Attributes;

using Scim.Fast.Core.Query;
using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;
using Scim.Fast.Core.Tests.Query;

namespace Scim.Fast.Benchmarks.Filter;

/// <summary>
/// One operation = the filter evaluated over 1,000,000 in-memory users: the compiled evaluator on the
/// typed models against the plain reference interpreter on the same users' JSON.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 1, iterationCount: 5)]
public class FilterEvaluationBenchmarks
{
    private const int UserCount = 1_000_000;

    private static List<User>? s_users;
    private static List<JsonObject>? s_documents;

    private CompiledFilter<User> _compiled = null!;
    private FilterNode _filter = null!;

    [Params("userName eq", "value path", "4-term and/or")]
    public string Filter { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        if (s_users is null)
        {
            var random = new Random(42);
            s_users = new List<User>(UserCount);
            s_documents = new List<JsonObject>(UserCount);
            var everything = ScimProjection.Everything(ScimResourceTypes.User);
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            for (int i = 0; i < UserCount; i++)
            {
                var user = SampleUsers.Create(random, i);
                s_users.Add(user);
                buffer.ResetWrittenCount();
                UserSerializer.Instance.Write(buffer, user, everything);
                s_documents.Add(JsonNode.Parse(buffer.WrittenSpan)!.AsObject());
            }
        }

        string text = Filter switch
        {
            "userName eq" => "userName eq \"user500000@example.com\"",
            "value path" => "emails[type eq \"work\" and value co \"500000@\"]",
            _ => "(title eq \"Manager\" or userType eq \"Contractor\") and active eq true and meta.lastModified gt \"2021-06-01T00:00:00Z\"",
        };
        if (!FilterParser.TryParse(text, ScimResourceTypes.User, out var filter, out var error))
        {
            throw new InvalidOperationException(error.ToString());
        }

        _filter = filter;
        _compiled = CompiledFilter<User>.Compile(filter, UserAccessor.Instance);
    }

    [Benchmark(Baseline = true, Description = "reference interpreter")]
    public int Reference()
    {
        int matches = 0;
        foreach (var document in s_documents!)
        {
            matches += ReferenceInterpreter.Evaluate(_filter, document, null) ? 1 : 0;
        }

        return matches;
    }

    [Benchmark(Description = "compiled")]
    public int Compiled()
    {
        int matches = 0;
        foreach (var user in s_users!)
        {
            matches += _compiled.Matches(user) ? 1 : 0;
        }

        return matches;
    }
}

/// <summary>Parsing and compiling the filters identity providers send, per request.</summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class FilterParseBenchmarks
{
    private byte[] _utf8 = [];

    [Params("entra userName", "entra externalId", "okta userName", "displayName", "delta sync")]
    public string Filter { get; set; } = "";

    [GlobalSetup]
    public void Setup() => _utf8 = System.Text.Encoding.UTF8.GetBytes(Filter switch
    {
        "entra userName" => "userName eq \"84c1d6e0-5b7a-4c61-9f0e-2a3b4c5d6e7f\"",
        "entra externalId" => "externalId eq \"ada.lovelace\"",
        "okta userName" => "userName eq \"ada.lovelace@example.com\"",
        "displayName" => "displayName eq \"Engineering\"",
        _ => "meta.lastModified gt \"2026-11-29T13:00:00Z\" and active eq true",
    });

    [Benchmark(Description = "parse + compile")]
    public CompiledFilter<User> ParseAndCompile()
    {
        if (!FilterParser.TryParse(_utf8, ScimResourceTypes.User, out var filter, out _))
        {
            throw new InvalidOperationException();
        }

        return CompiledFilter<User>.Compile(filter!, UserAccessor.Instance);
    }
}

/// <summary>Users shaped like what identity providers provision.</summary>
public static class SampleUsers
{
    private static readonly string[] s_titles = ["Engineer", "Manager", "Designer", "Analyst", "Director"];
    private static readonly string[] s_types = ["Employee", "Contractor", "Intern"];

    /// <summary>The stored JSON of <paramref name="count"/> sample users (the same users every call).</summary>
    public static List<byte[]> Stored(int count)
    {
        var random = new Random(42);
        var everything = ScimProjection.Everything(ScimResourceTypes.User);
        var records = new List<byte[]>(count);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        for (int i = 0; i < count; i++)
        {
            buffer.ResetWrittenCount();
            UserSerializer.Instance.Write(buffer, Create(random, i), everything);
            records.Add(buffer.WrittenSpan.ToArray());
        }

        return records;
    }

    public static User Create(Random random, int i) => new()
    {
        Id = Guid.NewGuid().ToString(),
        ExternalId = "ext-" + i,
        UserName = "user" + i + "@example.com",
        DisplayName = "User " + i,
        Title = s_titles[random.Next(s_titles.Length)],
        UserType = s_types[random.Next(s_types.Length)],
        Active = random.Next(10) != 0,
        Name = new User.NameValue { GivenName = "Given" + i, FamilyName = "Family" + (i % 1000) },
        Emails =
        [
            new User.EmailsValue { Value = "user" + i + "@example.com", Type = "work", Primary = true },
            new User.EmailsValue { Value = "home" + i + "@example.org", Type = "home" },
        ],
        Meta = new Core.Schema.ScimMeta
        {
            ResourceType = "User",
            Created = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(i),
            LastModified = new DateTimeOffset(2021, 1, 1, 0, 0, 0, TimeSpan.Zero).AddSeconds(random.Next(365 * 24 * 3600)),
        },
    };
}

/// <summary>
/// What a scan pays per stored record to test a filter no index answers: the stored JSON of 10,000
/// users decoded whole (the baseline, as list scans did before) against decoded only as far as the
/// filter looks (<see cref="ScimReadOptions.Only"/>), and that stopping once the attributes the filter
/// needs are read (<see cref="ScimReadOptions.StopWhenRead"/>), then the compiled filter; and that
/// behind the byte prefilter (<see cref="ScanPrefilter"/>: what the query executor does, decoding
/// only records whose bytes hold the filter's literal). One operation = 10,000 records: ns per
/// record = mean / 10,000.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 8)]
public class ScanDecodeBenchmarks
{
    private const int RecordCount = 10_000;

    private static readonly ScimReadOptions s_stored = ScimReadOptions.Trusted;

    private List<byte[]> _records = null!;
    private CompiledFilter<User> _compiled = null!;
    private ScimReadOptions _partial = null!;
    private ScimReadOptions _stopping = null!;
    private ScanPrefilter _prefilter = null!;

    [Params("name.familyName co", "title eq", "enterprise employeeNumber")]
    public string Filter { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _records = SampleUsers.Stored(RecordCount);

        string text = Filter switch
        {
            "name.familyName co" => "name.familyName co \"zz\"",
            "title eq" => "title eq \"x\"",
            _ => "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"x\"",
        };
        if (!FilterParser.TryParse(text, ScimResourceTypes.User, out var filter, out var error))
        {
            throw new InvalidOperationException(error.ToString());
        }

        _compiled = CompiledFilter<User>.Compile(filter, UserAccessor.Instance);
        _prefilter = ScanPrefilter.For(filter, _ => true) ?? throw new InvalidOperationException("no prefilter for " + text);
        var comparison = (FilterComparison)filter;
        _partial = new ScimReadOptions
        {
            IgnoreReadOnly = false,
            RequireSchemas = false,
            Only = ScimProjection.ForReading(ScimResourceTypes.User, [comparison.Attribute]),
        };
        _stopping = new ScimReadOptions
        {
            IgnoreReadOnly = false,
            RequireSchemas = false,
            Only = _partial.Only,
            StopWhenRead = true,
        };
    }

    [Benchmark(Baseline = true, Description = "full decode + filter")]
    public int Full() => Scan(s_stored);

    [Benchmark(Description = "partial decode + filter")]
    public int Partial() => Scan(_partial);

    [Benchmark(Description = "partial decode, stop once read + filter")]
    public int PartialStopping() => Scan(_stopping);

    [Benchmark(Description = "bytes prefilter, then partial decode, stop once read + filter")]
    public int Prefiltered() => Scan(_stopping, _prefilter);

    private int Scan(ScimReadOptions options, ScanPrefilter? prefilter = null)
    {
        int matches = 0;
        foreach (var record in _records)
        {
            if (prefilter is not null && !prefilter.MayMatch(record))
            {
                continue;
            }

            if (!UserSerializer.Instance.TryRead(new System.Buffers.ReadOnlySequence<byte>(record), options, out var user, out _))
            {
                throw new InvalidOperationException("a stored record does not read back");
            }

            matches += _compiled.Matches(user) ? 1 : 0;
        }

        return matches;
    }
}

/// <summary>
/// What a top-k sort without an ordered index pays per stored record once its heap is full
/// (<c>sortBy=name.familyName</c>): the record decoded as far as the sort looks and compared with
/// the heap's last (the baseline, as sorts did before), against the sort value read off the bytes
/// (<see cref="StoredSortKey"/>), which decides for every record here without a decode. One
/// operation = 10,000 records, 90 % of which sort after the last.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 8)]
public class SortKeyBenchmarks
{
    private const int RecordCount = 10_000;

    private List<byte[]> _records = null!;
    private ScimSortComparer<User> _comparer = null!;
    private ScimReadOptions _stopping = null!;
    private StoredSortKey _key = null!;
    private User _last = null!;
    private ScimValue _lastValue;

    [GlobalSetup]
    public void Setup()
    {
        _records = SampleUsers.Stored(RecordCount);

        if (!ScimSortComparer<User>.TryCreate(UserAccessor.Instance, "name.familyName", null, out var comparer, out var error))
        {
            throw new InvalidOperationException(error.ToString());
        }

        _comparer = comparer;
        _key = StoredSortKey.For(ScimResourceTypes.User, comparer.Attribute, descending: false, _ => true) ?? throw new InvalidOperationException("no stored sort key");
        _stopping = new ScimReadOptions
        {
            IgnoreReadOnly = false,
            RequireSchemas = false,
            Only = ScimProjection.ForReading(ScimResourceTypes.User, [comparer.Attribute]),
            StopWhenRead = true,
        };

        // Family names are Family0..Family999: one in ten sorts before "Family2".
        _last = new User { Id = "~", Name = new User.NameValue { FamilyName = "Family2" } };
        _lastValue = comparer.SortValue(_last);
    }

    [Benchmark(Baseline = true, Description = "partial decode, stop once read + compare")]
    public int Decoded()
    {
        int after = 0;
        foreach (var record in _records)
        {
            if (!UserSerializer.Instance.TryRead(new System.Buffers.ReadOnlySequence<byte>(record), _stopping, out var user, out _))
            {
                throw new InvalidOperationException("a stored record does not read back");
            }

            after += _comparer.Compare(user, _last) > 0 ? 1 : 0;
        }

        return after;
    }

    [Benchmark(Description = "sort value read off the bytes + compare")]
    public int FromBytes()
    {
        int after = 0;
        foreach (var record in _records)
        {
            after += _key.SortsAfter(record, "id", _lastValue, _last.Id!) ? 1 : 0;
        }

        return after;
    }
}
