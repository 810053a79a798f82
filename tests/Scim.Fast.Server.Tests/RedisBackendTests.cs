namespace Scim.Fast.Server.Tests;

// The HTTP suites again on the Redis backend (issue 16): the same requests and expectations against
// a server whose store is the shared test Redis Cluster (RedisCluster.Shared), each fixture in a key
// prefix of its own.

public sealed class ResourceProtocolTestsOnRedis(RedisScimServerFixture server) : ResourceProtocolTests(server), IClassFixture<RedisScimServerFixture>;

public sealed class ProtocolCorrectionsTestsOnRedis(RedisScimServerFixture server) : ProtocolCorrectionsTests(server), IClassFixture<RedisScimServerFixture>;

public sealed class IdempotencyRestartTestsOnRedis(RedisScimServerFixture server) : IdempotencyRestartTests(server), IClassFixture<RedisScimServerFixture>;

public sealed class IdentityProviderFlowTestsOnRedis(RedisScimServerFixture server) : IdentityProviderFlowTests(server), IClassFixture<RedisScimServerFixture>;

public sealed class BulkTestsOnRedis(RedisScimServerFixture server) : BulkTests(server), IClassFixture<RedisScimServerFixture>;

public sealed class TenantIsolationTestsOnRedis(RedisScimServerFixture server) : TenantIsolationTests(server), IClassFixture<RedisScimServerFixture>;

public sealed class DiscoveryEndpointTestsOnRedis(RedisScimServerFixture server) : DiscoveryEndpointTests(server), IClassFixture<RedisScimServerFixture>;

public sealed class FuzzFindingsTestsOnRedis(RedisScimServerFixture server) : FuzzFindingsTests(server), IClassFixture<RedisScimServerFixture>;

public sealed class RedisQueryFixture : QueryFixture
{
    protected override bool OnRedis => true;
}

public sealed class QueryTestsOnRedis(RedisQueryFixture server) : QueryTests(server), IClassFixture<RedisQueryFixture>;

public sealed class RedisQueryDifferentialFixture : UnthrottledServerFixture
{
    protected override bool OnRedis => true;
}

public sealed class QueryDifferentialTestsOnRedis(RedisQueryDifferentialFixture server) : QueryDifferentialTests(server), IClassFixture<RedisQueryDifferentialFixture>;

public sealed class RedisConcurrencyFixture : ConcurrencyFixture
{
    protected override bool OnRedis => true;
}

public sealed class ConcurrencyTestsOnRedis(RedisConcurrencyFixture server) : ConcurrencyTests(server), IClassFixture<RedisConcurrencyFixture>;

public sealed class RedisEventsFixture : Events.EventsFixture
{
    protected override bool OnRedis => true;
}

public sealed class EventsTestsOnRedis(RedisEventsFixture server) : Events.EventsTests(server), IClassFixture<RedisEventsFixture>
{
    protected override bool FeedSkipsTenantsWithoutStreams => false;
}

public sealed class PushDeliveryTestsOnRedis(RedisEventsFixture server) : Events.PushDeliveryTests(server), IClassFixture<RedisEventsFixture>;
