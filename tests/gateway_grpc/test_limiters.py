"""The limiters and the client-address rule on their own, with a hand-driven clock."""

from __future__ import annotations

import ipaddress

import pytest

from gateway_svc.auth import SlidingWindowLimiter
from gateway_svc.grpc_services.client_address import client_address, peer_ip
from gateway_svc.token_bucket import TokenBucket, TokenBuckets, retry_after_s

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
PROXIES = (*LOOPBACK, ipaddress.ip_network("10.0.0.0/8"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=2.0, burst=4, clock=clock)
    assert [buckets.take("u") for _ in range(4)] == [0.0] * 4
    assert buckets.take("u") == pytest.approx(0.5)  # one token at 2/s
    clock.now += 0.5
    assert buckets.take("u") == 0.0
    assert buckets.take("u") > 0
    assert buckets.take("v") == 0.0  # keys do not share


def test_bucket_never_holds_more_than_its_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=10.0, burst=2, clock=clock)
    clock.now += 3600
    assert [buckets.take("u") == 0.0 for _ in range(3)] == [True, True, False]


def test_a_clock_stepping_back_does_not_drain_the_bucket() -> None:
    bucket = TokenBucket(1.0, 2, now=100.0)
    assert bucket.take(100.0) == 0.0
    assert bucket.take(50.0) == 0.0  # the second token is still there
    assert bucket.take(50.0) > 0


def test_idle_keys_are_forgotten() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=10.0, burst=20, clock=clock)
    for n in range(1000):
        buckets.take(f"user-{n}")
    assert len(buckets) == 1000
    clock.now += 2.0  # burst / rate: every bucket is full again
    buckets.take("someone")
    assert len(buckets) == 1


def test_key_count_is_capped_even_when_all_are_busy() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=1.0, burst=5, clock=clock, max_keys=100)
    for n in range(1000):
        buckets.take(f"user-{n}")
        assert len(buckets) <= 100


@pytest.mark.parametrize(("wait", "header"), [(0.001, 1), (0.5, 1), (1.0, 1), (1.01, 2), (7.2, 8)])
def test_retry_after_is_whole_seconds_at_least_one(wait: float, header: int) -> None:
    assert retry_after_s(wait) == header


def test_sliding_window_says_when_to_retry() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(2, 60.0, clock=clock)
    assert limiter.allow("k")
    clock.now += 10
    assert limiter.allow("k") and not limiter.allow("k")
    assert limiter.retry_after("k") == pytest.approx(50.0)
    assert limiter.retry_after("other") == 0.0


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
        ("unix:/run/gateway.sock", "203.0.113.1", "unix:/run/gateway.sock"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    metadata = [("x-forwarded-for", forwarded)] if forwarded else []
    assert client_address(metadata, peer, PROXIES) == expected


def test_nobody_trusted_means_the_peer_always() -> None:
    metadata = [("x-forwarded-for", "203.0.113.1")]
    assert client_address(metadata, "ipv4:127.0.0.1:1", ()) == "127.0.0.1"
