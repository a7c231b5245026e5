"""The Redis client every process uses for the registry, metrics and events."""
import redis

# Bounded waits: a request path must answer (503) rather than hang when Redis is away.
SOCKET_TIMEOUT_SECONDS = 2
HEALTH_CHECK_INTERVAL_SECONDS = 25


def connect(url: str) -> redis.Redis:
    """A pooled, thread-safe client with bounded socket waits."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
    )


def seconds(time_reply) -> float:
    """A Redis ``TIME`` reply as seconds since the epoch: the registry's clock."""
    whole, micros = time_reply
    return whole + micros / 1_000_000


def redis_now(client: redis.Redis) -> float:
    """Redis's clock now, in seconds."""
    return seconds(client.time())
