using BenchmarkDotNet.Attributes;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Benchmarks.Storage;

/// <summary>
/// A group create's member check: 100 ids looked up in the id index of 1,000,000 users (a counted
/// B+tree built by random inserts, as an initial sync builds it), against a SortedSet of the same
/// positions (the red-black tree it replaced) in the same run.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class OrderedIndexProbeBenchmarks
{
    private const int Users = 1_000_000;
    private const int Members = 100;
    private CountedTree _tree = null!;
    private SortedSet<OrderedPosition> _sorted = null!;
    private OrderedPosition[] _ids = [];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _ids = new OrderedPosition[Users];
        _tree = new CountedTree();
        _sorted = new SortedSet<OrderedPosition>(PositionOrder.Instance);
        var bytes = new byte[16];
        for (int i = 0; i < Users; i++)
        {
            random.NextBytes(bytes);
            string id = new Guid(bytes).ToString();
            _ids[i] = new OrderedPosition(id, id);
            _tree.Add(_ids[i]);
            _sorted.Add(_ids[i]);
        }

        random.Shuffle(_ids);
    }

    [Benchmark(Baseline = true, Description = "SortedSet: 100 ids")]
    public int SortedSetContains()
    {
        int found = 0;
        for (int i = 0; i < Members; i++)
        {
            found += _sorted.Contains(_ids[_next++ % Users]) ? 1 : 0;
        }

        return found;
    }

    [Benchmark(Description = "counted B+tree: 100 ids")]
    public int CountedTreeContains()
    {
        int found = 0;
        for (int i = 0; i < Members; i++)
        {
            found += _tree.Contains(_ids[_next++ % Users]) ? 1 : 0;
        }

        return found;
    }
}
