using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;

using BenchmarkDotNet.Attributes;

using Scim.Fast.Core.Resources;
using Scim.Fast.Core.Serialization;

namespace Scim.Fast.Benchmarks.Serialization;

/// <summary>Shared inputs: the RFC 7643 §8.2 full user and §8.3 enterprise user, read once.</summary>
public abstract class UserSerializationBenchmarkBase
{
    protected static readonly JsonSerializerOptions ReflectionOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };

    [Params("8.2-full-user", "8.3-enterprise-user")]
    public string Fixture { get; set; } = "";

    protected byte[] Json { get; private set; } = [];

    protected User User { get; private set; } = null!;

    protected StjUser StjUser { get; private set; } = null!;

    protected void Setup()
    {
        Json = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "rfc7643-" + Fixture + ".json"));
        if (!UserSerializer.Instance.TryRead(Json, ScimReadOptions.Trusted, out var user, out var error))
        {
            throw new InvalidOperationException(error.ToString());
        }

        User = user;
        StjUser = JsonSerializer.Deserialize(Json, StjUserContext.Default.StjUser)!;
    }
}

/// <summary>Writing a user to UTF-8 into a reused buffer: what a GET response costs.</summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class UserWriteBenchmarks : UserSerializationBenchmarkBase
{
    private readonly ArrayBufferWriter<byte> _buffer = new(16 * 1024);
    private Utf8JsonWriter _stjWriter = null!;
    private ScimProjection _projection = null!;

    [GlobalSetup]
    public void SetupWriters()
    {
        Setup();
        _stjWriter = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });
        _projection = ScimProjection.Default(ScimResourceTypes.User);
    }

    [Benchmark(Baseline = true, Description = "STJ source-gen")]
    public int StjSourceGen()
    {
        _buffer.ResetWrittenCount();
        _stjWriter.Reset(_buffer);
        JsonSerializer.Serialize(_stjWriter, StjUser, StjUserContext.Default.StjUser);
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "STJ reflection")]
    public int StjReflection()
    {
        _buffer.ResetWrittenCount();
        _stjWriter.Reset(_buffer);
        JsonSerializer.Serialize(_stjWriter, StjUser, ReflectionOptions);
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "Scim.Fast generated")]
    public int ScimFast()
    {
        _buffer.ResetWrittenCount();
        UserSerializer.Instance.Write(_buffer, User, _projection);
        return _buffer.WrittenCount;
    }
}

/// <summary>Reading a user from UTF-8: what a POST or PUT body costs.</summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class UserReadBenchmarks : UserSerializationBenchmarkBase
{
    [GlobalSetup]
    public void SetupReaders() => Setup();

    [Benchmark(Baseline = true, Description = "STJ source-gen")]
    public StjUser? StjSourceGen() => JsonSerializer.Deserialize(Json, StjUserContext.Default.StjUser);

    [Benchmark(Description = "STJ reflection")]
    public StjUser? StjReflection() => JsonSerializer.Deserialize<StjUser>(Json, ReflectionOptions);

    [Benchmark(Description = "Scim.Fast generated")]
    public User? ScimFast()
    {
        UserSerializer.Instance.TryRead(new ReadOnlySequence<byte>(Json), ScimReadOptions.Trusted, out var user, out _);
        return user;
    }
}
