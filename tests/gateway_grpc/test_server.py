"""The server as an operator and a tool see it: reflection, health, clean shutdown."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import exchange_service_pb2_grpc, prices_pb2, types_pb2
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from gateway_svc.grpc_server import AUTH_SERVICE, EXCHANGE_SERVICE, GrpcServerHandle
from gateway_svc.grpc_services import reflection
from mesh import streams
from tests.polling import poll_async


async def test_reflection_lists_the_services_and_describes_them(
    channel: grpc.aio.Channel,
) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=EXCHANGE_SERVICE),
    ]
    replies = [reply async for reply in stub.ServerReflectionInfo(iter(requests))]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {EXCHANGE_SERVICE, AUTH_SERVICE, "grpc.health.v1.Health"} <= names
    assert replies[1].file_descriptor_response.file_descriptor_proto  # the .proto is served


async def test_reflection_serves_the_contract_with_its_comments(
    channel: grpc.aio.Channel,
) -> None:
    """A client building calls from reflection reads each field's meaning there (the
    generated modules keep no comments): the leverage's tenths, the service's errors."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    asked = [reflection_pb2.ServerReflectionRequest(file_containing_symbol=EXCHANGE_SERVICE)]
    [reply] = [reply async for reply in stub.ServerReflectionInfo(iter(asked))]
    files = {
        proto.name: proto
        for proto in map(
            descriptor_pb2.FileDescriptorProto.FromString,
            reply.file_descriptor_response.file_descriptor_proto,
        )
    }
    service = files["exchange/v1/exchange_service.proto"]
    comments = [location.leading_comments for location in service.source_code_info.location]
    assert any("x-error-code" in comment for comment in comments)
    assert any("Integer tenths" in comment for comment in comments)
    assert files["exchange/v1/types.proto"].source_code_info.location  # its imports too
    # The commented file is the same contract as the one the server runs (protoc's
    # descriptor set also spells out each field's JSON name).
    served = descriptor_pb2.FileDescriptorProto()
    served.CopyFrom(service)
    served.ClearField("source_code_info")
    for message in served.message_type:
        for field in message.field:
            field.ClearField("json_name")
    running = descriptor_pb2.FileDescriptorProto()
    xs.DESCRIPTOR.CopyToProto(running)
    assert served == running


async def test_one_reflection_stream_answers_a_bounded_number_of_requests(
    channel: grpc.aio.Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each answer is tens of KB for a request of a few bytes: one stream may not ask forever."""
    monkeypatch.setattr(reflection, "MAX_REQUESTS_PER_STREAM", 3)
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    asked = [reflection_pb2.ServerReflectionRequest(file_containing_symbol=EXCHANGE_SERVICE)] * 5
    replies = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for reply in stub.ServerReflectionInfo(iter(asked)):
            replies.append(reply)
    assert len(replies) == 3
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_reflection_describes_the_api_and_nothing_internal(
    channel: grpc.aio.Channel,
) -> None:
    """The process also holds the engine's stream contracts (commands, session revocations,
    the audit record): a client learns them from no reflection request."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    asked = [
        reflection_pb2.ServerReflectionRequest(file_by_filename="exchange/v1/types.proto"),
        reflection_pb2.ServerReflectionRequest(file_by_filename="exchange/v1/commands.proto"),
        reflection_pb2.ServerReflectionRequest(file_by_filename="exchange/v1/sessions.proto"),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="exchange.v1.Command"),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="exchange.v1.CommandAudit"),
    ]
    types, *internal = [reply async for reply in stub.ServerReflectionInfo(iter(asked))]
    assert types.file_descriptor_response.file_descriptor_proto  # the API's own types
    for reply in internal:
        assert reply.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0], reply


async def test_reflection_answers_under_its_v1_name_too(channel: grpc.aio.Channel) -> None:
    """grpc.reflection.v1 is v1alpha renamed, message for message: the same bytes answer it,
    and it can describe itself."""
    v1 = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=EXCHANGE_SERVICE),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=reflection.V1_SERVICE),
    ]
    listed, exchange_file, v1_file = [reply async for reply in v1(iter(requests))]
    names = {s.name for s in listed.list_services_response.service}
    v1alpha = "grpc.reflection.v1alpha.ServerReflection"
    assert {EXCHANGE_SERVICE, reflection.V1_SERVICE, v1alpha} <= names
    assert exchange_file.file_descriptor_response.file_descriptor_proto
    [raw] = v1_file.file_descriptor_response.file_descriptor_proto
    described = descriptor_pb2.FileDescriptorProto.FromString(raw)
    assert described.package == "grpc.reflection.v1"
    [method] = described.service[0].method
    assert method.input_type == ".grpc.reflection.v1.ServerReflectionRequest"


async def test_health_is_serving_for_the_server_and_each_service(
    channel: grpc.aio.Channel,
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", EXCHANGE_SERVICE, AUTH_SERVICE):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_supported_assets_in_the_seed_order(
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub,
) -> None:
    reply = await exchange.ListSupportedAssets(xs.ListSupportedAssetsRequest())
    assert list(reply.assets) == ["SOL_USDC", "ETH_USDC", "BTC_USDC"]


async def test_stop_ends_open_streams_and_lets_calls_finish(
    gateway: GrpcServerHandle,
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub,
    redis,  # type: ignore[no-untyped-def]
) -> None:
    stream = exchange.StreamPrices(xs.StreamPricesRequest())
    tick = prices_pb2.PriceTick(
        asset="SOL_USDC",
        bid=types_pb2.Decimal(units=236_100_000, scale=6),
        ask=types_pb2.Decimal(units=236_140_000, scale=6),
        ts_us=1,
    )
    await asyncio.sleep(0.2)  # let the subscription register
    batch = prices_pb2.PriceBatch(ticks=[tick])
    await redis.xadd(streams.PRICES, {streams.PAYLOAD: batch.SerializeToString()})
    first = await asyncio.wait_for(stream.read(), 5)
    assert first.tick.asset == "SOL_USDC"
    await asyncio.wait_for(gateway.stop(5.0), 3)  # well inside the grace: streams closed
    assert await stream.code() == grpc.StatusCode.OK


async def test_each_call_is_counted_by_method_and_code_and_timed(
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub,
) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    assets = "/exchange.v1.ExchangeService/ListSupportedAssets"
    balance = "/exchange.v1.ExchangeService/GetUsdBalance"
    before = (
        sample("grpc_server_handled_total", method=assets, code="OK"),
        sample("grpc_server_handled_total", method=balance, code="UNAUTHENTICATED"),
        sample("grpc_server_handling_seconds_count", method=assets),
    )
    for _ in range(3):
        await exchange.ListSupportedAssets(xs.ListSupportedAssetsRequest())
    with pytest.raises(grpc.aio.AioRpcError):
        await exchange.GetUsdBalance(xs.GetUsdBalanceRequest())  # no session

    def counted() -> list[float]:
        after = (
            sample("grpc_server_handled_total", method=assets, code="OK"),
            sample("grpc_server_handled_total", method=balance, code="UNAUTHENTICATED"),
            sample("grpc_server_handling_seconds_count", method=assets),
        )
        return [b - a for a, b in zip(before, after, strict=True)]

    # An aborted call's status reaches the client before the server's handler has unwound
    # (and counted it): ask until it has.
    deltas = await poll_async(counted, lambda d: d[1] >= 1, timeout_s=5, what="the count")
    assert deltas == [3, 1, 3]
