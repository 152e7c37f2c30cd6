"""The engine client on the real Redis: answers reach only the instance that asked (on its own
stream, deleted on a clean stop), concurrent commands share pipelined XADDs, silence is a
timeout, a dead Redis is ENGINE_UNAVAILABLE, and a dropped connection heals."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
import redis.asyncio as aioredis
from exchange.v1 import commands_pb2, responses_pb2
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway_svc.engine_client import EngineClient, _Call
from gateway_svc.errors import ApiError
from mesh import streams
from mesh.embedded import free_port
from tests.gateway_grpc.fake_engine import FakeEngine
from tests.redis_admin import kill_connections


def command(user_id: str = "u1", order_id: str | None = None) -> commands_pb2.Command:
    cmd = commands_pb2.Command(
        order_id=order_id or str(uuid.uuid4()), user_id=user_id, email=f"{user_id}@x.io", ts_ms=1
    )
    cmd.create_account.SetInParent()
    return cmd


async def test_two_instances_each_get_only_their_own_answers(
    redis: aioredis.Redis, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    a = EngineClient(redis, "gw-a", timeout_s=5)
    b = EngineClient(redis, "gw-b", timeout_s=5)
    await a.start()
    await b.start()
    try:
        commands = [
            (client, command(f"{client.instance_id}-user-{i}"))
            for i in range(20)
            for client in (a, b)
        ]
        with caplog.at_level(logging.INFO):
            results = await asyncio.gather(*(client.call(cmd) for client, cmd in commands))
        for (_, cmd), result in zip(commands, results, strict=True):
            assert result.order_id == cmd.order_id
            assert result.account_created.email == cmd.email
        sent = {c.order_id: c.reply_to for c in engine.commands}
        assert {cmd.order_id: client.instance_id for client, cmd in commands} == sent
        # Each read only its own stream: no answer arrived unasked for ("late answer").
        assert not [r for r in caplog.records if "late answer" in r.getMessage()]
        assert await redis.xlen(streams.response_stream("gw-a")) == 20
        # 40 concurrent commands, far fewer round trips.
        assert a._pipeline.commands == b._pipeline.commands == 20
        assert a._pipeline.batches + b._pipeline.batches < 40
    finally:
        await a.stop()
        await b.stop()
    assert not await redis.exists(streams.response_stream("gw-a"), streams.response_stream("gw-b"))


async def test_an_undecodable_answer_is_logged_and_skipped(
    redis: aioredis.Redis, engine: FakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    client = EngineClient(redis, "gw-garbage", timeout_s=5)
    await client.start()
    try:
        await redis.xadd(streams.response_stream("gw-garbage"), {streams.PAYLOAD: b"\xff junk"})
        with caplog.at_level(logging.ERROR):
            result = await client.call(command("u-after-garbage"))
        assert result.account_created.email == "u-after-garbage@x.io"
        assert [r for r in caplog.records if "undecodable" in r.getMessage()]
    finally:
        await client.stop()


async def test_silence_is_engine_timeout(redis: aioredis.Redis) -> None:
    client = EngineClient(redis, "gw-lonely", timeout_s=0.3)
    await client.start()
    try:
        with pytest.raises(ApiError) as info:
            await client.call(command())
        assert info.value.spec.name == "ENGINE_TIMEOUT"
        assert await redis.xlen(streams.COMMANDS) == 1  # it was sent; nobody answered
        assert not client._waiting  # nothing left behind
    finally:
        await client.stop()


async def test_late_answer_after_timeout_is_ignored(redis: aioredis.Redis) -> None:
    client = EngineClient(redis, "gw-late", timeout_s=0.2)
    await client.start()
    try:
        cmd = command()
        with pytest.raises(ApiError):
            await client.call(cmd)
        async with FakeEngine(redis):  # answers the old command now
            await asyncio.sleep(0.5)
            fresh = await client.call(command("u2"))
        # The late answer (u1's) was dropped; the new call got its own.
        assert fresh.account_created.email == "u2@x.io"
    finally:
        await client.stop()


async def test_redis_down_is_engine_unavailable() -> None:
    dead = streams.connect(f"redis://127.0.0.1:{free_port()}/0")
    client = EngineClient(dead, "gw-dead", timeout_s=0.5)
    await client.start()  # does not raise: the reader keeps trying in the background
    try:
        with pytest.raises(ApiError) as info:
            await client.call(command())
        assert info.value.spec.name == "ENGINE_UNAVAILABLE"
    finally:
        await client.stop()
        await dead.aclose()


async def test_reader_reconnects_after_its_connection_is_killed(
    redis: aioredis.Redis, engine: FakeEngine, redis_url: str
) -> None:
    client = EngineClient(redis, "gw-phoenix", timeout_s=5)
    await client.start()
    try:
        assert (await client.call(command("u1"))).account_created.email
        assert await kill_connections(redis_url) >= 1
        assert (await client.call(command("u2"))).account_created.email
    finally:
        await client.stop()


async def test_two_users_with_one_order_id_each_get_their_own_answer(
    redis: aioredis.Redis, engine: FakeEngine
) -> None:
    """Answers are matched by (user, order id): two users' commands with the same order id in
    flight at once each get the answer to their own command (issue 14: the gateway used to
    hand an answer to whoever waited on the order id, then refused the second user)."""
    client = EngineClient(redis, "gw-shared", timeout_s=5)
    await client.start()
    try:
        order_id = str(uuid.uuid4())
        mine, theirs = await asyncio.gather(
            client.call(command("u1", order_id)), client.call(command("u2", order_id))
        )
        assert mine.account_created.email == "u1@x.io"
        assert theirs.account_created.email == "u2@x.io"
    finally:
        await client.stop()


async def test_an_answer_for_another_user_is_not_taken(redis: aioredis.Redis) -> None:
    """An answer naming another user (a forged or misrouted entry) completes no waiter."""
    client = EngineClient(redis, "gw-forged", timeout_s=0.5)
    await client.start()
    try:
        order_id = str(uuid.uuid4())
        waiting = asyncio.create_task(client.call(command("u1", order_id)))
        await asyncio.sleep(0.05)
        forged = responses_pb2.CommandResult(order_id=order_id, message="not yours")
        await redis.xadd(
            streams.response_stream("gw-forged"),
            {streams.PAYLOAD: forged.SerializeToString(), streams.ASKER: b"u2"},
        )
        with pytest.raises(ApiError) as info:
            await waiting
        assert info.value.spec.name in ("ENGINE_TIMEOUT", "ENGINE_UNAVAILABLE")
    finally:
        await client.stop()


async def test_a_deadline_says_unavailable_only_when_the_command_never_left() -> None:
    """Before its batch leaves, a passed deadline is ENGINE_UNAVAILABLE and the command is
    dropped for good; once it has left (Redis may run it), it is ENGINE_TIMEOUT: the outcome
    is unknown and the same order id again is safe."""
    loop = asyncio.get_running_loop()
    waiting = _Call(loop.create_future(), "o-1", timeout_s=1.0)
    waiting.expire()
    with pytest.raises(ApiError) as info:
        await waiting.future
    assert info.value.spec.name == "ENGINE_UNAVAILABLE"
    assert waiting.wanted() is False  # the pipeline drops it: it never reaches the engine

    leaving = _Call(loop.create_future(), "o-2", timeout_s=1.0)
    assert leaving.wanted() is True  # its batch leaves now
    leaving.expire()
    with pytest.raises(ApiError) as info:
        await leaving.future
    assert info.value.spec.name == "ENGINE_TIMEOUT"


@pytest.mark.parametrize(
    ("error", "told"),
    [
        (RedisTimeoutError("no reply within 5s"), "ENGINE_TIMEOUT"),  # Redis may have run it
        (RedisConnectionError("connection refused"), "ENGINE_UNAVAILABLE"),
    ],
)
async def test_a_batch_redis_never_answered_is_an_unknown_outcome_not_unavailable(
    error: Exception, told: str
) -> None:
    call = _Call(asyncio.get_running_loop().create_future(), "o-3", timeout_s=1.0)
    assert call.wanted()
    call.written(error)
    with pytest.raises(ApiError) as info:
        await call.future
    assert info.value.spec.name == told
