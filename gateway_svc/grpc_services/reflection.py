"""Server reflection under both of its names: `grpc.reflection.v1`, which grpcurl and newer
tools ask first, and `grpc.reflection.v1alpha`, all that grpcio-reflection serves.

v1 is v1alpha renamed: the same messages, field for field and number for number. So v1alpha's
servicer answers v1's method too (the bytes on the wire are the same), and v1's descriptor is
v1alpha's under the new package, added to the pool so that v1 can itself be described.

Reflection describes the served services and the files they need, from a pool of its own:
the process's default pool also holds the engine's internal contracts (the commands on its
stream, the session revocations), which are no client's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
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


def enable(server: grpc.aio.Server, services: Sequence[str]) -> None:
    """Reflection of `services` (and of reflection itself, under both names) on `server`."""
    _add_v1_descriptor(descriptor_pool.Default())
    described = (*services, reflection.SERVICE_NAME, V1_SERVICE)
    servicer = ReflectionServicer(described, pool=public_pool(described))
    add_service(reflection_pb2_grpc.add_ServerReflectionServicer_to_server, servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    handlers = grpc.method_handlers_generic_handler(V1_SERVICE, {"ServerReflectionInfo": v1})
    server.add_generic_rpc_handlers((handlers,))
