"""Server reflection under both of its names: `grpc.reflection.v1`, which grpcurl and newer
tools ask first, and `grpc.reflection.v1alpha`, all that grpcio-reflection serves.

v1 is v1alpha renamed: the same messages, field for field and number for number. So v1alpha's
servicer answers v1's method too (the bytes on the wire are the same), and v1's descriptor is
v1alpha's under the new package, added to the pool so that v1 can itself be described.

Reflection describes the served services and the files they need, from a pool of its own:
the process's default pool also holds the engine's internal contracts (the commands on its
stream, the session revocations), which are no client's business. Each file is served with
its comments (`make gen` keeps them in exchange/v1/commented.binpb; the generated modules drop
them), so `grpcurl describe` shows what a field means, its scale and its bounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from exchange import v1 as exchange_v1
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

from gateway_svc.grpc_services.registration import add_service

V1_SERVICE = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"
_V1ALPHA, _V1 = ".grpc.reflection.v1alpha.", ".grpc.reflection.v1."


def _add_v1_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    try:
        pool.FindFileByName(_V1_FILE)
        return  # added by an earlier server in this process
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = _V1_FILE, "grpc.reflection.v1"
    proto.ClearField("options")  # v1alpha's Java and Go names, and its deprecation
    for message in proto.message_type:
        for field in message.field:
            if field.type_name:  # a message field (setting an empty one would mark it set)
                field.type_name = field.type_name.replace(_V1ALPHA, _V1)
    for method in proto.service[0].method:
        method.input_type = method.input_type.replace(_V1ALPHA, _V1)
        method.output_type = method.output_type.replace(_V1ALPHA, _V1)
    pool.AddSerializedFile(proto.SerializeToString())


def public_pool(services: Sequence[str]) -> descriptor_pool.DescriptorPool:
    """A pool of the files that define `services` and of what those files import, and of
    nothing else."""
    default = descriptor_pool.Default()
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: Any) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        pool.Add(proto)
        added.add(file.name)

    for name in services:
        add(default.FindServiceByName(name).file)
    return pool


COMMENTED_FILES = Path(exchange_v1.__file__).parent / "commented.binpb"


def commented_files(path: Path = COMMENTED_FILES) -> dict[str, bytes]:
    """Each contract file's FileDescriptorProto with its comments, by file name."""
    files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()).file
    return {file.name: file.SerializeToString() for file in files}


MAX_REQUESTS_PER_STREAM = 100
"""Reflection requests one stream may make: a tool asks a handful; each answer is up to about
40 KB for a 40-byte request, so an unbounded stream was a cheap way to make the server work
(the hostile-client audit: 2,000 requests drew 76 MB in 1.3 s)."""


class CommentedReflection(ReflectionServicer):  # type: ignore[misc]
    """grpcio-reflection's servicer, answering with the commented form of each file it has
    (it serializes files from the pool, and a pool keeps no comments), and at most
    MAX_REQUESTS_PER_STREAM requests on one stream."""

    async def ServerReflectionInfo(self, requests: Any, context: Any) -> Any:
        async def bounded() -> Any:
            count = 0
            async for request in requests:
                count += 1
                if count > MAX_REQUESTS_PER_STREAM:
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"at most {MAX_REQUESTS_PER_STREAM} reflection requests on one stream",
                    )
                yield request

        async for response in super().ServerReflectionInfo(bounded(), context):
            yield response

    def __init__(
        self,
        services: Sequence[str],
        pool: descriptor_pool.DescriptorPool,
        commented: Mapping[str, bytes],
    ) -> None:
        super().__init__(services, pool=pool)
        self._commented = commented

    def _with_comments(self, response: Any) -> Any:
        if response.HasField("file_descriptor_response"):
            files = response.file_descriptor_response.file_descriptor_proto
            for i, raw in enumerate(files):
                name = descriptor_pb2.FileDescriptorProto.FromString(raw).name
                files[i] = self._commented.get(name, raw)
        return response

    def _file_by_filename(self, request: Any, filename: str) -> Any:
        return self._with_comments(super()._file_by_filename(request, filename))

    def _file_containing_symbol(self, request: Any, symbol: str) -> Any:
        return self._with_comments(super()._file_containing_symbol(request, symbol))

    def _file_containing_extension(self, request: Any, containing: str, number: int) -> Any:
        return self._with_comments(super()._file_containing_extension(request, containing, number))


def enable(server: grpc.aio.Server, services: Sequence[str]) -> None:
    """Reflection of `services` (and of reflection itself, under both names) on `server`."""
    _add_v1_descriptor(descriptor_pool.Default())
    described = (*services, reflection.SERVICE_NAME, V1_SERVICE)
    servicer = CommentedReflection(described, public_pool(described), commented_files())
    add_service(reflection_pb2_grpc.add_ServerReflectionServicer_to_server, servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    handlers = grpc.method_handlers_generic_handler(V1_SERVICE, {"ServerReflectionInfo": v1})
    server.add_generic_rpc_handlers((handlers,))
