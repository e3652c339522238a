"""The causal-tap Node-RED plugin (plugin/) in a real Node-RED 4 and 5 with the real Mosquitto.

One flow exercises every kind of hop the runtime has (junction, switch with two outputs, link
out/in, a subflow instance, a function building new objects, a delay node); after N injected
messages the records must hold exactly the expected deliveries per edge, with lineage linking every
sink message to the inject that caused it, and the flow's own outputs must be the same with and
without the tap. Then: loss accounting when the broker is unreachable, the HTTP transport (with a
collector that fails first), hooks removed when the runtime stops, and the fault endpoints.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import requests

from nodered_causal.flows import load_flow, to_causal_dag
from nodered_causal.nodered import LocalNodeRed
from nodered_causal.nodered.runtime import PLUGIN_DIR
from nodered_causal.tap.records import parse_batch

pytestmark = pytest.mark.integration

BROKER = ("127.0.0.1", 1883)
N = 30
FAULT_HOOK = "preRoute.nodered-causal-fault"

# ---------------------------------------------------------------------------------------------
# the flow


def topology_flow(prefix: str) -> list[dict[str, Any]]:
    """inject -> gen (new objects) -> junction -> {switch, link out}; switch:0 -> delay -> f2 ->
    sink a, switch:1 -> sink b; link out -> link in -> subflow instance (inner function) -> sink c.
    Sinks are MQTT out nodes publishing to ``<prefix>/out/<a|b|c>`` on the real broker."""
    tab = "t1"

    def n(id_: str, type_: str, wires: list[list[str]] | None = None, **kw: Any) -> dict[str, Any]:
        return {"id": id_, "type": type_, "z": tab, "x": 100, "y": 100, "wires": wires or [], **kw}

    def sink(id_: str, name: str) -> dict[str, Any]:
        return n(
            id_, "mqtt out", topic=f"{prefix}/out/{name}", qos="1", retain="false", broker="broker"
        )

    return [
        {"id": tab, "type": "tab", "label": "tap test"},
        {
            "id": "sf",
            "type": "subflow",
            "name": "times ten",
            "info": "",
            "in": [{"x": 50, "y": 30, "wires": [{"id": "sff"}]}],
            "out": [{"x": 300, "y": 30, "wires": [{"id": "sff", "port": 0}]}],
        },
        {
            "id": "sff",
            "type": "function",
            "z": "sf",
            "name": "x10",
            "x": 150,
            "y": 30,
            "func": "msg.payload = msg.payload.v * 10;\nreturn msg;",
            "outputs": 1,
            "wires": [[]],
        },
        {
            "id": "broker",
            "type": "mqtt-broker",
            "name": "",
            "broker": BROKER[0],
            "port": str(BROKER[1]),
            "clientid": "",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "4",
            "keepalive": "60",
            "cleansession": True,
        },
        n("inj", "inject", [["gen"]], props=[], repeat="", once=False, topic=""),
        n(
            "gen",
            "function",
            [["jn"]],
            outputs=1,
            func="const i = (context.get('i') || 0) + 1;\ncontext.set('i', i);\n"
            "return {payload: {v: i, w: i % 3}};",
        ),
        {"id": "jn", "type": "junction", "z": tab, "x": 200, "y": 100, "wires": [["sw", "lo"]]},
        n(
            "sw",
            "switch",
            [["dl"], ["sinkb"]],
            property="payload.w",
            propertyType="msg",
            rules=[{"t": "eq", "v": "0", "vt": "num"}, {"t": "else"}],
            checkall="true",
            outputs=2,
        ),
        n(
            "dl",
            "delay",
            [["f2"]],
            pauseType="delay",
            timeout="5",
            timeoutUnits="milliseconds",
            rate="1",
            nbRateUnits="1",
            rateUnits="second",
            randomFirst="1",
            randomLast="5",
            randomUnits="seconds",
            drop=False,
            outputs=1,
        ),
        n("f2", "function", [["sinka"]], outputs=1, func="return {payload: msg.payload.v + 0.5};"),
        n("lo", "link out", mode="link", links=["li"]),
        n("li", "link in", [["sfi"]], links=["lo"]),
        n("sfi", "subflow:sf", [["sinkc"]]),
        sink("sinka", "a"),
        sink("sinkb", "b"),
        sink("sinkc", "c"),
    ]


def expected_edges(n: int) -> Counter[tuple[str, int | None, str]]:
    n0 = sum(1 for i in range(1, n + 1) if i % 3 == 0)
    return Counter(
        {
            ("inj", 0, "gen"): n,
            ("gen", 0, "jn"): n,
            ("jn", 0, "sw"): n,
            ("jn", 0, "lo"): n,
            ("lo", 0, "li"): n,
            ("li", 0, "sfi"): n,
            ("sfi", 0, "sfi-sff"): n,
            ("sfi-sff", 0, "sinkc"): n,
            ("sw", 0, "dl"): n0,
            ("dl", 0, "f2"): n0,
            ("f2", 0, "sinka"): n0,
            ("sw", 1, "sinkb"): n - n0,
        }
    )


#: the path (src -> dst hops) from the inject to each sink, and the sink value for input v
SINK_PATHS: dict[str, tuple[list[str], Callable[[int], Any]]] = {
    "sinka": (["inj", "gen", "jn", "sw", "dl", "f2", "sinka"], lambda v: v + 0.5),
    "sinkb": (["inj", "gen", "jn", "sw", "sinkb"], lambda v: v),
    "sinkc": (["inj", "gen", "jn", "lo", "li", "sfi", "sfi-sff", "sinkc"], lambda v: v * 10),
}

# ---------------------------------------------------------------------------------------------
# MQTT helpers


class Subscriber:
    """Collects JSON messages from a topic filter on the real broker (paho, QoS 1)."""

    def __init__(self, topic: str) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.raw: list[bytes] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.connect(*BROKER)
        self._client.subscribe(topic, qos=1)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError(f"no SUBACK for {topic}")

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.raw.append(bytes(message.payload))
            self.messages.append((message.topic, json.loads(message.payload)))

    def snapshot(self) -> list[tuple[str, Any]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


class Records:
    """The tap's records from ``nodered-causal/<instance>/records``, deduplicated by seq."""

    def __init__(self, instance: str) -> None:
        self.sub = Subscriber(f"nodered-causal/{instance}/records")

    def all(self) -> list[dict[str, Any]]:
        by_key: dict[tuple[str, int], dict[str, Any]] = {}
        for _topic, batch in self.sub.snapshot():
            for rec in batch:
                by_key[(rec["boot"], rec["seq"])] = rec
        return sorted(by_key.values(), key=lambda r: (r["boot"], r["seq"]))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.all() if r["kind"] == kind]

    def wait(self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not pred(self.all()):
            if time.monotonic() > deadline:
                raise AssertionError(f"records did not arrive in time ({len(self.all())} so far)")
            time.sleep(0.05)


def wait_for(pred: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def records(mqtt_prefix: str) -> Iterator[Records]:
    recs = Records(mqtt_prefix)
    yield recs
    recs.sub.close()


@pytest.fixture
def outputs(mqtt_prefix: str) -> Iterator[Subscriber]:
    sub = Subscriber(f"{mqtt_prefix}/out/#")
    yield sub
    sub.close()


def tap_config(instance: str, **extra: Any) -> dict[str, Any]:
    return {
        "causalTap": {
            "instance": instance,
            "url": f"mqtt://{BROKER[0]}:{BROKER[1]}",
            "flushMs": 50,
            **extra,
        }
    }


def run_injections(nr: LocalNodeRed, outputs: Subscriber, n: int = N) -> list[tuple[str, Any]]:
    for _ in range(n):
        nr.client.inject("inj")
    wait_for(lambda: len(outputs.snapshot()) >= 2 * n, what=f"{2 * n} flow outputs")
    time.sleep(0.2)  # nothing more may arrive
    return outputs.snapshot()


def stats(nr: LocalNodeRed, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = requests.get(f"{nr.url}/causal-tap/stats", headers=headers, timeout=10)
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# tests


#: (Node-RED version, extra settings, hooks the tap registers)
VARIANTS = {
    "nr4": ("4", {}, ["postDeliver", "onReceive"]),
    "nr5": ("5", {}, ["postDeliver", "onReceive"]),
    # Node-RED's synchronous delivery: the receiver runs inside the sender's call
    "nr4-sync-delivery": (
        "4",
        {"runtimeSyncDelivery": True},
        ["preDeliver", "onReceive", "postReceive"],
    ),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_delivery_recorded_with_lineage(
    variant: str, mqtt_prefix: str, records: Records, outputs: Subscriber
) -> None:
    version, extra, hooks = VARIANTS[variant]
    flow = topology_flow(mqtt_prefix)
    settings = tap_config(mqtt_prefix)
    settings["causalTap"].update(extra.get("causalTap", {}))
    settings.update({k: v for k, v in extra.items() if k != "causalTap"})
    with LocalNodeRed(version, flows=flow, plugins=[PLUGIN_DIR], settings=settings) as nr:
        outs = run_injections(nr, outputs)
        want = expected_edges(N)
        records.wait(lambda rs: sum(r["kind"] == "deliver" for r in rs) >= sum(want.values()))
        time.sleep(1.2)  # one more stats record
        st = stats(nr)
    assert st["hooks"] == [f"{h}.nodered-causal" for h in hooks]
    assert (st["failed"], st["dropped"]) == (0, 0)

    allrecs = records.all()
    # the collector's own validation (nodered_causal.tap.records) accepts every record
    for body in list(records.sub.raw):
        parsed = parse_batch(body, known_nodes={n["id"] for n in flow} | {"sfi-sff"})
        assert parsed.body_ok and not parsed.rejected, parsed.rejected[:3]
    assert {r["boot"] for r in allrecs} == {st["boot"]}
    assert {(r["v"], r["tap"]) for r in allrecs} == {(1, mqtt_prefix)}
    seqs = [r["seq"] for r in allrecs]
    assert seqs == list(range(1, len(seqs) + 1)), "no gaps in seq"
    delivers = [r for r in allrecs if r["kind"] == "deliver"]
    assert Counter((r["src"], r["port"], r["dst"]) for r in delivers) == want
    # the same ids as the importer's causal DAG: every delivery is one of its edges
    dag = to_causal_dag(load_flow(flow))
    edges = {(u, d.get("port"), v) for u, v, d in dag.edges(data=True)}
    assert set(want) <= edges
    assert not [r for r in allrecs if r["kind"] == "error"]
    last_stats = [r for r in allrecs if r["kind"] == "stats"][-1]
    assert last_stats["dropped"] == 0 and last_stats["failed"] == 0
    assert last_stats["recorded"] == last_stats["seq"]

    # lineage: every sink delivery leads back, hop by hop, to the inject that caused it
    by_seq = {r["seq"]: r for r in delivers}
    seen_v: dict[str, set[int]] = {s: set() for s in SINK_PATHS}
    for rec in delivers:
        if rec["dst"] not in SINK_PATHS:
            continue
        chain = [rec]
        while chain[-1]["parent"] is not None:
            chain.append(by_seq[chain[-1]["parent"]])
        chain.reverse()
        root = chain[0]
        path, value_of = SINK_PATHS[rec["dst"]]
        assert [root["src"]] + [c["dst"] for c in chain] == path
        assert all(c["trace"] == root["seq"] for c in chain)
        assert all(c["latency_ns"] is not None and c["latency_ns"] >= 0 for c in chain[1:])
        v = int(chain[1]["payload"]["values"]["payload.v"])  # gen's output
        sink_value = rec["payload"]["values"].get(
            "payload", rec["payload"]["values"].get("payload.v")
        )
        # (with sync delivery the copy for the link out is taken after the MQTT out node of the
        # other branch turned the shared payload into a JSON string: Node-RED semantics)
        if "runtimeSyncDelivery" not in extra:
            assert sink_value == value_of(v)
        seen_v[rec["dst"]].add(v)
    assert seen_v["sinkc"] == set(range(1, N + 1))
    assert seen_v["sinka"] | seen_v["sinkb"] == set(range(1, N + 1))
    # the delay node forwards each object 5 ms later
    dl = [r for r in delivers if r["src"] == "dl"]
    assert min(r["latency_ns"] for r in dl) >= 4_000_000

    # what the flow itself published is what the tap saw arriving at the sinks
    topics = Counter(t.rsplit("/", 1)[1] for t, _ in outs)
    assert topics == {"a": want[("f2", 0, "sinka")], "b": want[("sw", 1, "sinkb")], "c": N}


def test_flow_outputs_identical_without_tap(
    mqtt_prefix: str, records: Records, outputs: Subscriber
) -> None:
    flow = topology_flow(mqtt_prefix)
    runs = []
    for env in ({"NODERED_CAUSAL_TAP_ENABLED": "0"}, {}):
        outputs.messages.clear()
        with LocalNodeRed(
            "4", flows=flow, plugins=[PLUGIN_DIR], env=env, settings=tap_config(mqtt_prefix)
        ) as nr:
            outs = run_injections(nr, outputs)
            st = stats(nr)
        runs.append((sorted(json.dumps(o, sort_keys=True) for o in outs), st))
    (off, st_off), (on, st_on) = runs
    assert st_off["enabled"] is False and "hooks" not in st_off
    assert st_on["enabled"] is True and st_on["recorded"] > 0
    assert len(off) == 2 * N
    assert off == on


def test_broker_unreachable_flow_unaffected_drops_counted(
    mqtt_prefix: str, outputs: Subscriber
) -> None:
    dead = free_port()  # nothing listens there
    settings = tap_config(
        mqtt_prefix, url=f"mqtt://127.0.0.1:{dead}", queueMax=100, batchSize=10, maxInflight=4
    )
    with LocalNodeRed(
        "4", flows=topology_flow(mqtt_prefix), plugins=[PLUGIN_DIR], settings=settings
    ) as nr:
        n = 90
        t0 = time.monotonic()
        outs = run_injections(nr, outputs, n)
        elapsed = time.monotonic() - t0
        time.sleep(1.1)
        st = stats(nr)
    deliveries = sum(expected_edges(n).values())
    assert len(outs) == 2 * n
    assert elapsed < 20
    assert st["transport"]["connected"] is False
    assert st["failed"] == 0
    assert st["recorded"] >= deliveries
    # every record is accounted for: shipped (none), dropped, or still waiting (queue)
    assert st["transport"]["sent"] == 0
    # at most: the tap's queue (100) + chunks posted to the shipping worker (4 x 100) + the
    # worker's bounded backlog (100) + unacknowledged MQTT batches (4 x 10)
    bound = 100 + 4 * 100 + 100 + 4 * 10
    assert 0 < st["queue"] <= bound
    assert st["dropped"] + st["queue"] == st["recorded"]
    assert st["dropped"] >= deliveries - bound > 0


class _Collector(BaseHTTPRequestHandler):
    """POST /v1/records: answers 503 to the first ``fail_first`` requests, then 204."""

    fail_first = 2
    lock = threading.Lock()
    batches: list[list[dict[str, Any]]] = []
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["content-length"]))
        cls = type(self)
        with cls.lock:
            cls.calls += 1
            failing = cls.calls <= cls.fail_first
            if not failing and self.path == "/v1/records":
                cls.batches.append(json.loads(body))
        self.send_response(503 if failing else 204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_http_transport_retries_and_delivers_everything(
    mqtt_prefix: str, outputs: Subscriber
) -> None:
    handler = type(
        "Collector", (_Collector,), {"batches": [], "calls": 0, "lock": threading.Lock()}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        settings = tap_config(mqtt_prefix, transport="http", url=url)
        with LocalNodeRed(
            "4", flows=topology_flow(mqtt_prefix), plugins=[PLUGIN_DIR], settings=settings
        ) as nr:
            run_injections(nr, outputs)
            want = sum(expected_edges(N).values())

            def delivered() -> int:
                return sum(r["kind"] == "deliver" for b in list(handler.batches) for r in b)

            wait_for(lambda: delivered() >= want, what="deliveries over HTTP")
            # the collector stores a batch before it answers, and the shipping worker reports
            # its counters every 250 ms: wait until the tap has seen every answer
            sent = len({r["seq"] for b in list(handler.batches) for r in b})
            wait_for(lambda: stats(nr)["transport"]["sent"] >= sent, what="tap counted the answers")
            st = stats(nr)
    finally:
        server.shutdown()
        server.server_close()
    recs = sorted(
        {r["seq"]: r for b in handler.batches for r in b}.values(), key=lambda r: r["seq"]
    )
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert Counter((r["src"], r["port"], r["dst"]) for r in recs if r["kind"] == "deliver") == (
        expected_edges(N)
    )
    assert st["transport"]["kind"] == "http"
    assert st["transport"]["retries"] >= 2
    assert st["dropped"] == 0


def test_hooks_removed_when_runtime_stops(mqtt_prefix: str, records: Records) -> None:
    settings = {**tap_config(mqtt_prefix), "runtimeState": {"enabled": True}}
    with LocalNodeRed(
        "4", flows=topology_flow(mqtt_prefix), plugins=[PLUGIN_DIR], settings=settings
    ) as nr:
        nr.client.inject("inj")
        records.wait(lambda rs: any(r["kind"] == "deliver" for r in rs))
        first = stats(nr)
        resp = requests.post(f"{nr.url}/flows/state", json={"state": "stop"}, timeout=10)
        assert resp.status_code == 200, resp.text
        wait_for(lambda: stats(nr)["running"] is False, what="tap stopped")
        stopped = stats(nr)
        hooks_left = {k: v for k, v in stopped["runtime_hooks"].items() if v}
        resp = requests.post(f"{nr.url}/flows/state", json={"state": "start"}, timeout=10)
        assert resp.status_code == 200, resp.text
        wait_for(lambda: stats(nr).get("running") is True, what="tap restarted")
        again = stats(nr)
    assert first["hooks"] and stopped["hooks"] == []
    assert first["runtime_hooks"]["postDeliver.nodered-causal"] is True
    assert hooks_left == {}
    assert again["boot"] != first["boot"] and len(again["hooks"]) == 2
    # the final records were flushed when the tap stopped: last stats of the first boot
    records.wait(
        lambda rs: any(
            r["boot"] == first["boot"] and r["kind"] == "stats" and r["recorded"] == r["seq"]
            for r in rs
        )
    )


def test_faults_applied_then_removed(
    mqtt_prefix: str, records: Records, outputs: Subscriber
) -> None:
    flow = topology_flow(mqtt_prefix)
    with LocalNodeRed(
        "4", flows=flow, plugins=[PLUGIN_DIR], settings=tap_config(mqtt_prefix)
    ) as nr:
        base = f"{nr.url}/causal-tap/faults"
        bad = requests.post(base, json={"node": "gen", "kind": "bias"}, timeout=10)
        assert bad.status_code == 400 and "value must be a finite number" in bad.json()["error"]
        missing = requests.post(base, json={"node": "nope", "kind": "drop"}, timeout=10)
        assert missing.status_code == 404

        resp = requests.post(
            base, json={"node": "sfi-sff", "kind": "bias", "value": 1000}, timeout=10
        )
        assert resp.status_code == 201, resp.text
        assert stats(nr)["runtime_hooks"][FAULT_HOOK] is True
        for _ in range(3):
            nr.client.inject("inj")
        wait_for(lambda: len([o for t, o in outputs.snapshot() if t.endswith("/c")]) >= 3)
        listed = requests.get(base, timeout=10).json()["faults"]
        assert [(f["node"], f["kind"], f["applied"]) for f in listed] == [("sfi-sff", "bias", 3)]
        resp = requests.delete(base, timeout=10)
        assert resp.json()["removed"][0]["node"] == "sfi-sff"
        assert stats(nr)["runtime_hooks"][FAULT_HOOK] is False
        for _ in range(3):
            nr.client.inject("inj")
        wait_for(lambda: len([o for t, o in outputs.snapshot() if t.endswith("/c")]) >= 6)

        # drop everything gen sends, then error: catch nodes would see it, the tap records it
        requests.post(base, json={"node": "gen", "kind": "error", "value": 1}, timeout=10)
        nr.client.inject("inj")
        records.wait(lambda rs: any(r["kind"] == "error" for r in rs))
        requests.delete(f"{base}/gen", timeout=10)
        assert requests.delete(f"{base}/gen", timeout=10).status_code == 404
    c_values = [o for t, o in outputs.snapshot() if t.endswith("/c")]
    assert c_values == [1010, 1020, 1030, 40, 50, 60]  # v*10, +1000 while faulted
    into_c = [r for r in records.of("deliver") if r["dst"] == "sinkc"]
    assert [r["payload"]["values"]["payload"] for r in into_c] == c_values
    err = records.of("error")
    assert [(e["src"], e["error"]) for e in err] == [
        ("gen", "Error: causal-tap injected fault: error in gen")
    ]
    assert not [r for r in records.of("deliver") if r["src"] == "gen" and r["seq"] > err[0]["seq"]]


def test_admin_endpoints_need_auth_when_admin_auth_is_on(mqtt_prefix: str) -> None:
    with LocalNodeRed(
        "4",
        flows=topology_flow(mqtt_prefix),
        plugins=[PLUGIN_DIR],
        settings=tap_config(mqtt_prefix),
        admin_auth=("admin", "s3cret!"),
    ) as nr:
        anon_stats = requests.get(f"{nr.url}/causal-tap/stats", timeout=10)
        anon_fault = requests.post(
            f"{nr.url}/causal-tap/faults", json={"node": "gen", "kind": "drop"}, timeout=10
        )
        token = nr.client.login()
        auth = {"Authorization": f"Bearer {token}"}
        authed_stats = requests.get(f"{nr.url}/causal-tap/stats", headers=auth, timeout=10)
        authed_fault = requests.post(
            f"{nr.url}/causal-tap/faults",
            headers=auth,
            json={"node": "gen", "kind": "drop"},
            timeout=10,
        )
        cleared = requests.delete(f"{nr.url}/causal-tap/faults", headers=auth, timeout=10)
    assert anon_stats.status_code == 401
    assert anon_fault.status_code == 401
    assert authed_stats.status_code == 200 and authed_stats.json()["enabled"] is True
    assert "s3cret" not in authed_stats.text
    assert authed_fault.status_code == 201
    assert cleared.json()["removed"][0]["kind"] == "drop"
