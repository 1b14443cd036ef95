#!/usr/bin/env python3
"""An independent KEDA-side client for the store's external scaler gRPC service.

Compiles the repository's proto/externalscaler/externalscaler.proto with grpcio-tools,
then drives the server the way KEDA does (GetMetricSpec, GetMetrics, IsActive per poll,
StreamIsActive for `external-push`, StreamMetricSpec) with grpcio. Samples are sent to the
store's remote-write endpoint (protobuf from the repository's remote.proto, snappy framed
by the literal-only encoder below), so value changes and activity transitions are driven
end to end.

Usage: keda_client.py --suite {plain,tls,mtls} --grpc HOST:PORT --store URL --proto DIR
       [--ca PEM] [--cert PEM --key PEM] [--wrong-cert PEM --wrong-key PEM]
Exits non-zero with a message on the first failed check.
"""

import argparse
import importlib
import os
import sys
import tempfile
import threading
import time
import urllib.request

import grpc
from grpc_tools import protoc


def compile_protos(proto_root, out_dir):
    for proto in ("externalscaler/externalscaler.proto", "prometheus/remote.proto"):
        code = protoc.main(["protoc", f"-I{proto_root}", f"--python_out={out_dir}",
                            f"--grpc_python_out={out_dir}", proto])
        if code != 0:
            sys.exit(f"protoc failed on {proto} with exit code {code}")
    sys.path.insert(0, out_dir)
    pb = importlib.import_module("externalscaler.externalscaler_pb2")
    rpc = importlib.import_module("externalscaler.externalscaler_pb2_grpc")
    remote = importlib.import_module("prometheus.remote_pb2")
    return pb, rpc, remote


def snappy_literal(data):
    """Snappy block format with literals only: valid for any decoder, no compression."""
    out = bytearray()
    n = len(data)
    while True:  # uvarint of the uncompressed length
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            break
    pos = 0
    while pos < len(data):
        chunk = data[pos:pos + 65536]
        length = len(chunk) - 1
        if length < 60:
            out.append(length << 2)
        elif length < 256:
            out += bytes([60 << 2, length])
        else:
            out += bytes([61 << 2, length & 0xFF, length >> 8])
        out += chunk
        pos += len(chunk)
    return bytes(out)


class Checks:
    def __init__(self):
        self.count = 0

    def equal(self, what, got, want):
        self.count += 1
        if got != want:
            sys.exit(f"FAIL {what}: got {got!r}, want {want!r}")

    def true(self, what, cond, detail=""):
        self.count += 1
        if not cond:
            sys.exit(f"FAIL {what} {detail}")

    def rpc_error(self, what, call, code, fragment):
        self.count += 1
        try:
            call()
        except grpc.RpcError as e:
            if e.code() != code or fragment not in (e.details() or ""):
                sys.exit(f"FAIL {what}: got {e.code()} {e.details()!r}, want {code} containing {fragment!r}")
            return e
        sys.exit(f"FAIL {what}: the call succeeded, want {code}")


class Store:
    def __init__(self, url, remote):
        self.url = url.rstrip("/")
        self.remote = remote

    def write(self, name, labels, value):
        request = self.remote.WriteRequest()
        series = request.timeseries.add()
        for k, v in sorted([("__name__", name)] + list(labels.items())):
            label = series.labels.add()
            label.name, label.value = k, v
        sample = series.samples.add()
        sample.value = value
        sample.timestamp = int(time.time() * 1000)
        body = snappy_literal(request.SerializeToString())
        req = urllib.request.Request(self.url + "/api/v1/write", data=body, method="POST", headers={
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        })
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status // 100 != 2:
                sys.exit(f"remote-write answered {resp.status}")


def ref(pb, metadata, name="orders", namespace="shop"):
    return pb.ScaledObjectRef(name=name, namespace=namespace, scalerMetadata=metadata)


def keda_keys(extra):
    base = {"scalerAddress": "tachyscale-store.monitoring:9202", "enableTLS": "false",
            "unsafeSsl": "false"}
    base.update(extra)
    return base


def poll(pb, stub, obj, metric_name):
    """One KEDA poll of one trigger: three unary RPCs."""
    spec = stub.GetMetricSpec(obj, timeout=5)
    metrics = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=obj, metricName=metric_name), timeout=5)
    active = stub.IsActive(obj, timeout=5)
    return spec, metrics, active


def suite_plain(pb, stub, store, check, run_id):
    q = f"queue_depth_{run_id}"
    store.write(q, {"queue": "orders", "namespace": "shop"}, 7.0)
    store.write(q, {"queue": "billing", "namespace": "shop"}, 5.0)

    # GetMetricSpec: no evaluation, both target fields.
    obj = ref(pb, keda_keys({"query": f'sum({q}{{queue="orders"}})', "targetValue": "2.5",
                             "metricName": "orders-depth"}))
    spec = stub.GetMetricSpec(obj, timeout=5)
    check.equal("spec count", len(spec.metricSpecs), 1)
    check.equal("spec name", spec.metricSpecs[0].metricName, "orders-depth")
    check.equal("spec float", spec.metricSpecs[0].targetSizeFloat, 2.5)
    check.equal("spec int", spec.metricSpecs[0].targetSize, 3)

    # A full poll.
    spec, metrics, active = poll(pb, stub, obj, "orders-depth")
    check.equal("value count", len(metrics.metricValues), 1)
    check.equal("value float", metrics.metricValues[0].metricValueFloat, 7.0)
    check.equal("value int", metrics.metricValues[0].metricValue, 7)
    check.equal("value name", metrics.metricValues[0].metricName, "orders-depth")
    check.equal("active at 7 > 0", active.result, True)

    # The shorthand, namespaced, with a fractional value.
    store.write(q, {"queue": "orders", "namespace": "other"}, 100.0)
    short = ref(pb, {"metric": q, "labelSelector": "queue in (orders,billing)",
                     "aggregation": "avg", "namespaced": "true", "targetValue": "1",
                     "activationThreshold": "6"})
    _, metrics, active = poll(pb, stub, short, "avg-" + q)
    check.equal("shorthand avg", metrics.metricValues[0].metricValueFloat, 6.0)
    check.equal("activation is strict >", active.result, False)

    # No data: 0 with ignoreNullValues (default), NOT_FOUND without.
    missing = ref(pb, {"query": f"sum(absent_metric_{run_id})", "targetValue": "1"})
    _, metrics, active = poll(pb, stub, missing, "x")
    check.equal("no data is 0", metrics.metricValues[0].metricValueFloat, 0.0)
    check.equal("no data is inactive", active.result, False)
    strict = ref(pb, {"query": f"sum(absent_metric_{run_id})", "targetValue": "1",
                      "ignoreNullValues": "false"})
    check.rpc_error("no data, strict", lambda: stub.GetMetrics(
        pb.GetMetricsRequest(scaledObjectRef=strict, metricName="x"), timeout=5),
        grpc.StatusCode.NOT_FOUND, "no data")

    # Negative values never reach KEDA.
    store.write(f"negative_{run_id}", {}, -3.0)
    neg = ref(pb, {"query": f"negative_{run_id}", "targetValue": "1"})
    metrics = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=neg, metricName="n"), timeout=5)
    check.equal("negative becomes 0", metrics.metricValues[0].metricValueFloat, 0.0)

    # Evaluation problems are statuses with messages, not zeros.
    two = ref(pb, {"query": q, "targetValue": "1"})
    check.rpc_error("two series", lambda: stub.GetMetrics(
        pb.GetMetricsRequest(scaledObjectRef=two, metricName="x"), timeout=5),
        grpc.StatusCode.FAILED_PRECONDITION, "returned 3 series")

    # Metadata errors name the key and what was expected.
    cases = [
        ({"query": "up", "targetValue": "1", "treshold": "5"}, "scalerMetadata.treshold: unknown key"),
        ({"query": "up", "targetValue": "ten"}, "scalerMetadata.targetValue: expected a finite decimal number"),
        ({"query": "up"}, "scalerMetadata.targetValue: missing"),
        ({"targetValue": "1"}, "scalerMetadata.query: missing"),
        ({"query": "sum(up", "targetValue": "1"}, "scalerMetadata.query: invalid PromQL"),
        ({"query": "up", "targetValue": "1", "ignoreNullValues": "maybe"}, "scalerMetadata.ignoreNullValues: expected true or false"),
        ({"metric": "up", "labelSelector": "a in (b", "targetValue": "1"}, "scalerMetadata.labelSelector: invalid label selector"),
        ({"metric": "up", "aggregation": "p99", "targetValue": "1"}, "scalerMetadata.aggregation: expected sum, avg, max or min"),
    ]
    for metadata, fragment in cases:
        for method in (stub.GetMetricSpec, stub.IsActive):
            check.rpc_error(f"{method._method} {metadata}", lambda: method(ref(pb, metadata), timeout=5),
                            grpc.StatusCode.INVALID_ARGUMENT, fragment)
    check.rpc_error("GetMetrics without scaledObjectRef", lambda: stub.GetMetrics(
        pb.GetMetricsRequest(metricName="x"), timeout=5),
        grpc.StatusCode.INVALID_ARGUMENT, "scaledObjectRef is missing")
    check.rpc_error("stream with bad metadata", lambda: next(iter(stub.StreamIsActive(
        ref(pb, {"query": "up"}), timeout=5))),
        grpc.StatusCode.INVALID_ARGUMENT, "scalerMetadata.targetValue")

    # StreamMetricSpec: the spec at once, and the stream stays open.
    specs = stub.StreamMetricSpec(obj)
    first = next(specs)
    check.equal("streamed spec", (first.metricSpecs[0].metricName, first.metricSpecs[0].targetSizeFloat),
                ("orders-depth", 2.5))
    check.equal("spec stream still open", specs.is_active(), True)
    specs.cancel()

    # StreamIsActive: current state first, then one message per transition.
    s = f"stream_depth_{run_id}"
    store.write(s, {}, 1.0)
    stream_obj = ref(pb, {"query": f"max({s})", "targetValue": "10", "activationThreshold": "5"})
    stream = stub.StreamIsActive(stream_obj)
    received = []
    arrived = threading.Event()

    def reader():
        try:
            for message in stream:
                received.append((time.monotonic(), message.result))
                arrived.set()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                received.append((time.monotonic(), f"error {e.code()} {e.details()}"))
                arrived.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()

    def wait_for(n, what):
        deadline = time.monotonic() + 5
        while len(received) < n and time.monotonic() < deadline:
            arrived.wait(0.05)
            arrived.clear()
        check.true(what, len(received) >= n, f"(received {received})")

    wait_for(1, "initial stream state")
    check.equal("initial state", received[0][1], False)
    delays = []
    for value, want in [(9.0, True), (2.0, False), (50.0, True)]:
        sent = time.monotonic()
        store.write(s, {}, value)
        wait_for(len(delays) + 2, f"push after writing {value}")
        at, result = received[len(delays) + 1]
        check.equal(f"pushed state after {value}", result, want)
        delays.append(at - sent)
    # A write that does not change the state pushes nothing.
    store.write(s, {}, 60.0)
    time.sleep(1.5)
    check.equal("no message without a transition", len(received), 4)
    stream.cancel()
    thread.join(5)
    print(f"StreamIsActive push delays after the remote-write was acknowledged: "
          f"{', '.join(f'{d * 1000:.1f} ms' for d in delays)}")


def suite_secure(pb, stub, store, check, run_id):
    q = f"secure_depth_{run_id}"
    store.write(q, {}, 4.0)
    obj = ref(pb, keda_keys({"query": f"sum({q})", "targetValue": "2", "enableTLS": "true"}))
    spec, metrics, active = poll(pb, stub, obj, "m")
    check.equal("TLS spec", spec.metricSpecs[0].targetSizeFloat, 2.0)
    check.equal("TLS value", metrics.metricValues[0].metricValueFloat, 4.0)
    check.equal("TLS active", active.result, True)
    stream = stub.StreamIsActive(obj)
    check.equal("TLS stream", next(stream).result, True)
    stream.cancel()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--suite", required=True, choices=["plain", "tls", "mtls"])
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--proto", required=True)
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--wrong-cert")
    parser.add_argument("--wrong-key")
    args = parser.parse_args()

    out = tempfile.mkdtemp(prefix="keda-proto-")
    pb, rpc, remote = compile_protos(args.proto, out)
    store = Store(args.store, remote)
    check = Checks()
    run_id = str(os.getpid())
    read = lambda p: open(p, "rb").read()

    if args.suite == "plain":
        with grpc.insecure_channel(args.grpc) as channel:
            suite_plain(pb, rpc.ExternalScalerStub(channel), store, check, run_id)
    else:
        ca = read(args.ca)
        if args.suite == "tls":
            creds = grpc.ssl_channel_credentials(root_certificates=ca)
        else:
            creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=read(args.key),
                                                 certificate_chain=read(args.cert))
        with grpc.secure_channel(args.grpc, creds) as channel:
            suite_secure(pb, rpc.ExternalScalerStub(channel), store, check, run_id)
        # Plaintext to a TLS port fails.
        with grpc.insecure_channel(args.grpc) as channel:
            check.rpc_error("plaintext to the TLS port", lambda: rpc.ExternalScalerStub(channel).GetMetricSpec(
                ref(pb, {"query": "up", "targetValue": "1"}), timeout=3), grpc.StatusCode.UNAVAILABLE, "")
        if args.suite == "mtls":
            refusals = [("no client certificate", grpc.ssl_channel_credentials(root_certificates=ca))]
            if args.wrong_cert:
                refusals.append(("a certificate from another CA", grpc.ssl_channel_credentials(
                    root_certificates=ca, private_key=read(args.wrong_key),
                    certificate_chain=read(args.wrong_cert))))
            for what, bad in refusals:
                with grpc.secure_channel(args.grpc, bad) as channel:
                    check.rpc_error(f"mTLS with {what}", lambda: rpc.ExternalScalerStub(channel).GetMetricSpec(
                        ref(pb, {"query": "up", "targetValue": "1"}), timeout=3),
                        grpc.StatusCode.UNAVAILABLE, "")
    print(f"ok: {check.count} checks passed ({args.suite})")


if __name__ == "__main__":
    main()
