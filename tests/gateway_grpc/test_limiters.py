"""The limiters and the client-address rule on their own: the in-memory bucket with a
hand-driven clock, the shared limits against the real test Redis (its own clock)."""

from __future__ import annotations

import asyncio
import ipaddress
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from gateway_svc.auth import SignInLinkLimits, address_key
from gateway_svc.grpc_services.client_address import client_address, peer_ip
from gateway_svc.token_bucket import (
    LIMITER_ERRORS,
    SharedTokenBuckets,
    TokenBucket,
    is_noscript,
    retry_after_s,
    wait_s,
)
from mesh import streams
from mesh.embedded import free_port
from mesh.resp import RespConnection, options_of

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
PROXIES = (*LOOPBACK, ipaddress.ip_network("10.0.0.0/8"))


def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=4, now=1000.0)
    assert [bucket.take(1000.0) for _ in range(4)] == [0.0] * 4
    assert bucket.take(1000.0) == pytest.approx(0.5)  # one token at 2/s
    assert bucket.take(1000.5) == 0.0
    assert bucket.take(1000.5) > 0


def test_bucket_never_holds_more_than_its_burst() -> None:
    bucket = TokenBucket(rate_per_s=10.0, burst=2, now=0.0)
    assert [bucket.take(3600.0) == 0.0 for _ in range(3)] == [True, True, False]


def test_a_clock_stepping_back_does_not_drain_the_bucket() -> None:
    bucket = TokenBucket(1.0, 2, now=100.0)
    assert bucket.take(100.0) == 0.0
    assert bucket.take(50.0) == 0.0  # the second token is still there
    assert bucket.take(50.0) > 0


@pytest.mark.parametrize(("wait", "header"), [(0.001, 1), (0.5, 1), (1.0, 1), (1.01, 2), (7.2, 8)])
def test_retry_after_is_whole_seconds_at_least_one(wait: float, header: int) -> None:
    assert retry_after_s(wait) == header


# ---- the per-user command limit, in Redis --------------------------------------------------


async def test_shared_bucket_allows_a_burst_then_the_rate(redis: aioredis.Redis) -> None:
    buckets = SharedTokenBuckets(redis, Decimal(20), 3, "t:")
    assert [await buckets.take("u") for _ in range(3)] == [0.0] * 3
    wait = await buckets.take("u")
    assert 0.03 < wait <= 0.05  # one token at 20/s, less the time the calls took
    assert await buckets.take("v") == 0.0  # keys do not share
    await asyncio.sleep(wait + 0.01)
    assert await buckets.take("u") == 0.0
    assert await buckets.take("u") > 0


async def test_a_command_and_its_token_in_one_script(redis: aioredis.Redis) -> None:
    """`packed_take_then_add`: the entry is added only when a token was taken, in the same
    script, whose answer is then the entry's id; refused, it answers the wait."""
    buckets = SharedTokenBuckets(redis, Decimal(1), 2, "t:")
    conn = RespConnection(options_of(redis))
    try:

        async def send(payload: bytes) -> object:
            packed = buckets.packed_take_then_add(
                "u", "t:stream", 100, b"payload", payload, by_sha=True
            )
            (reply,) = await conn.call(packed, 1)
            if is_noscript(reply):
                packed = buckets.packed_take_then_add(
                    "u", "t:stream", 100, b"payload", payload, by_sha=False
                )
                (reply,) = await conn.call(packed, 1)
            return reply

        replies = [await send(b"%d" % n) for n in range(3)]
        assert [wait_s(r) for r in replies[:2]] == [0.0, 0.0]
        assert all(isinstance(r, bytes) and b"-" in r for r in replies[:2])  # entry ids
        assert 0.9 < wait_s(replies[2]) <= 1.0
        entries = await redis.xrange("t:stream")
        assert [fields[b"payload"] for _, fields in entries] == [b"0", b"1"]
        assert [entry_id for entry_id, _ in entries] == replies[:2]
    finally:
        conn.close()
        await buckets.aclose()


async def test_shared_bucket_holds_across_clients(redis_url: str) -> None:
    """Two gateway processes are two Redis clients with buckets of their own making: between
    them the user still gets one burst."""
    first, second = streams.connect(redis_url), streams.connect(redis_url)
    try:
        a = SharedTokenBuckets(first, Decimal("0.5"), 4, "t:")
        b = SharedTokenBuckets(second, Decimal("0.5"), 4, "t:")
        takes = [await (a if n % 2 else b).take("u") for n in range(6)]
    finally:
        await first.aclose()
        await second.aclose()
    assert takes[:4] == [0.0] * 4
    assert all(1.9 < wait <= 2.0 for wait in takes[4:])


async def test_a_full_bucket_leaves_no_key_behind(redis: aioredis.Redis) -> None:
    buckets = SharedTokenBuckets(redis, Decimal(10), 5, "t:")
    await buckets.take("u")
    ttl_ms = await redis.pttl("t:u")
    assert 0 < ttl_ms <= 100  # one token's refill: then the bucket is full, as if new
    for _ in range(5):
        await buckets.take("u")
    assert 400 < await redis.pttl("t:u") <= 500
    await asyncio.sleep(0.55)
    assert await redis.exists("t:u") == 0


async def test_limits_without_redis_raise_for_the_caller_to_fail_closed() -> None:
    dead = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
    try:
        with pytest.raises(LIMITER_ERRORS):
            await SharedTokenBuckets(dead, Decimal(1), 1, "t:").take("u")
        with pytest.raises(LIMITER_ERRORS):
            await SignInLinkLimits(dead, 1, 1, 60).take("a@b.co", "192.0.2.1")
    finally:
        await dead.aclose()


# ---- sign-in link limits, in Redis ---------------------------------------------------------


async def test_link_limit_per_email_and_per_client(redis: aioredis.Redis) -> None:
    limits = SignInLinkLimits(redis, per_email=2, per_client=3, window_s=60)
    assert await limits.take("a@b.co", "192.0.2.1") == 0.0
    assert await limits.take("a@b.co", "192.0.2.2") == 0.0
    assert 59 < await limits.take("a@b.co", "192.0.2.3") <= 60  # the address's third link
    assert await limits.take("c@b.co", "192.0.2.1") == 0.0
    assert await limits.take("d@b.co", "192.0.2.1") == 0.0
    assert await limits.take("e@b.co", "192.0.2.1") > 0  # the client's fourth


async def test_a_refused_link_counts_against_nobody(redis: aioredis.Redis) -> None:
    limits = SignInLinkLimits(redis, per_email=1, per_client=2, window_s=60)
    assert await limits.take("a@b.co", "192.0.2.1") == 0.0
    for _ in range(5):  # refused by the e-mail limit: the client's count stays at one
        assert await limits.take("a@b.co", "192.0.2.1") > 0
    assert await limits.take("b@b.co", "192.0.2.1") == 0.0


async def test_a_client_that_signed_in_keeps_its_own_share_of_the_mailbox(
    redis: aioredis.Redis,
) -> None:
    limits = SignInLinkLimits(redis, per_email=1, per_client=10, window_s=60)
    await limits.remember_sign_in("Owner+x@b.co", "192.0.2.9")
    assert await limits.take("owner@b.co", "198.51.100.1") == 0.0  # a stranger spends it
    assert await limits.take("owner@b.co", "198.51.100.2") > 0
    assert await limits.take("owner@b.co", "192.0.2.9") == 0.0  # the owner's own share
    assert await limits.take("owner@b.co", "192.0.2.9") > 0  # which is one link, too
    [known] = await redis.keys("limit:link:known:*")
    assert 0 < await redis.ttl(known) <= 30 * 24 * 3600


async def test_link_window_slides_and_keys_expire(redis: aioredis.Redis) -> None:
    limits = SignInLinkLimits(redis, per_email=1, per_client=5, window_s=1)
    assert await limits.take("a@b.co", "192.0.2.1") == 0.0
    wait = await limits.take("a@b.co", "192.0.2.1")
    assert 0.9 < wait <= 1.0
    keys = await redis.keys("limit:link:*")
    assert len(keys) == 2 and b"a@b.co" not in b"".join(keys)  # addresses stored hashed
    assert all(0 < ttl <= 1000 for ttl in [await redis.pttl(key) for key in keys])
    await asyncio.sleep(wait + 0.05)
    assert await limits.take("a@b.co", "192.0.2.1") == 0.0


async def test_ipv6_clients_in_one_64_share_a_limit(redis: aioredis.Redis) -> None:
    limits = SignInLinkLimits(redis, per_email=10, per_client=2, window_s=60)
    assert await limits.take("a@b.co", "2001:db8:1:2::1") == 0.0
    assert await limits.take("b@b.co", "2001:db8:1:2:ffff:ffff:ffff:fffe") == 0.0
    assert await limits.take("c@b.co", "2001:db8:1:2:dead:beef::7") > 0
    assert await limits.take("c@b.co", "2001:db8:1:3::1") == 0.0  # the next /64


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.5", "192.0.2.5"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::", "2001:db8:1:2::/64"),
        ("::1", "::/64"),
        ("unix:/run/gateway.sock", "unix:/run/gateway.sock"),
    ],
)
def test_address_key(address: str, key: str) -> None:
    assert address_key(address) == key


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("ipv4:192.0.2.5:4242", "192.0.2.5"),
        ("ipv6:[2001:db8::7]:4242", "2001:db8::7"),
        ("ipv6:%5B::1%5D:4242", "::1"),  # what grpc 1.85 really sends
        ("ipv6:[::ffff:192.0.2.9]:1", "192.0.2.9"),
        ("unix:/run/gateway.sock", None),
        ("", None),
        ("ipv4:not-an-ip:1", None),
    ],
)
def test_peer_ip(peer: str, expected: str | None) -> None:
    address = peer_ip(peer)
    assert (str(address) if address else None) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # Not from a proxy: whatever the header says, the key is the peer.
        ("ipv4:198.51.100.20:1", "203.0.113.1", "198.51.100.20"),
        ("ipv6:[2001:db8::1]:1", "203.0.113.1", "2001:db8::1"),
        # From the facade on loopback: the address it forwards.
        ("ipv4:127.0.0.1:1", "203.0.113.1", "203.0.113.1"),
        ("ipv6:%5B::1%5D:1", "2001:db8::42", "2001:db8::42"),
        ("ipv4:127.0.0.1:1", None, "127.0.0.1"),
        # A chain: the last hop that is not a trusted proxy; the client's own entries to the
        # left of it are not believed.
        ("ipv4:127.0.0.1:1", "6.6.6.6, 203.0.113.1, 10.1.2.3", "203.0.113.1"),
        ("ipv4:127.0.0.1:1", "10.9.9.9, 10.1.2.3", "10.9.9.9"),
        # Garbage from a trusted hop stops the walk at the last good address.
        ("ipv4:127.0.0.1:1", "not-an-ip", "127.0.0.1"),
        ("ipv4:127.0.0.1:1", "not-an-ip, 10.1.2.3", "10.1.2.3"),
        # The facade over its Unix socket: the address it forwards, or the socket without one.
        ("unix:", "203.0.113.1", "203.0.113.1"),
        ("unix:/run/gateway.sock", "198.51.100.7, 203.0.113.1", "203.0.113.1"),
        ("unix:", None, "unix:"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    metadata = [("x-forwarded-for", forwarded)] if forwarded else []
    assert client_address(metadata, peer, PROXIES) == expected


def test_nobody_trusted_means_the_peer_always() -> None:
    metadata = [("x-forwarded-for", "203.0.113.1")]
    assert client_address(metadata, "ipv4:127.0.0.1:1", ()) == "127.0.0.1"
