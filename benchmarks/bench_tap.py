"""Benchmark: what the causal-tap plugin costs a saturated Node-RED, and whether it loses records.

Node-RED instances run side by side, all with the plugin installed:
``base`` (NODERED_CAUSAL_TAP_ENABLED=0: loaded, no hooks), ``tap`` (defaults: lineage on,
MQTT to the local broker), ``tap-nolineage`` (``lineage: false``, no onReceive hook),
``tap-sample10`` (``sample: 0.1``: whole traces of 10 % of the messages, every delivery counted)
and ``tap-adaptive`` (``sampleMode: "adaptive"``, ``cpuBudget: 0.03``). Each
holds two flows, fed by a pump that sends M messages as fast as the runtime takes them (bursts
of 200 per timer tick):

- ``chain``:  pump -> 10 function nodes (``msg.payload.v += 1``) -> sink      (11 deliveries/msg)
- ``fanout``: pump -> fan -> 5 function nodes -> sink                           (11 deliveries/msg)

Trials alternate between the instances (base, tap, tap-nolineage, base, ...) so machine noise
hits all alike; msg/s = M / (time from the pump's first send to the sink's M-th message), and
CPU/msg from the Node-RED process's user+system time during the trial. The ratio is the median
tapped msg/s over the median baseline msg/s. The tap's own counters (dropped by its bounded queue
under saturation) are read from GET /causal-tap/stats.

``--sustained S`` then feeds the ``tap`` instance at ``--rate`` msg/s (default 10,000) through a
3-node chain for S seconds while a paho subscriber counts the records on the broker: lost =
seq gaps at the subscriber, dropped = the tap's own counter.

Prints tables and appends a dated section to benchmarks/RESULTS.md.

    python benchmarks/bench_tap.py [--version 4] [--messages 20000] [--trials 5]
                                   [--sustained 30] [--rate 10000] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import append_results, machine  # noqa: E402  (benchmarks/ is on sys.path)

from nodered_causal.nodered import LocalNodeRed  # noqa: E402
from nodered_causal.nodered.runtime import PLUGIN_DIR  # noqa: E402

BROKER = ("127.0.0.1", 1883)
CHAIN_LEN = 10
FAN = 5
BURST = 200


def _node(tab: str, id_: str, type_: str, wires: list[list[str]], **kw: Any) -> dict[str, Any]:
    return {"id": id_, "type": type_, "z": tab, "x": 100, "y": 100, "wires": wires, **kw}


def _pump(tab: str, key: str, wires: list[str], messages: int) -> list[dict[str, Any]]:
    """inject -> pump: M messages in bursts, stamps the start time in global context."""
    func = (
        f"const M = {messages};\n"
        f"global.set('{key}_n', 0);\n"
        f"global.set('{key}_t0', Date.now());\n"
        "let i = 0;\n"
        "function burst() {\n"
        f"  for (let k = 0; k < {BURST} && i < M; k++, i++)\n"
        "    node.send({payload: {v: i, w: i % 3}});\n"
        "  if (i < M) setTimeout(burst, 0);\n"
        "}\n"
        "burst();\n"
        "return null;"
    )
    return [
        _node(tab, f"{key}_inj", "inject", [[f"{key}_pump"]], props=[], repeat="", once=False),
        _node(tab, f"{key}_pump", "function", [wires], func=func, outputs=1),
    ]


def _sink(tab: str, key: str, expected: int) -> dict[str, Any]:
    func = (
        f"const n = global.get('{key}_n') + 1;\n"
        f"global.set('{key}_n', n);\n"
        f"if (n === {expected}) global.set('{key}_ms', Date.now() - global.get('{key}_t0'));\n"
        "return null;"
    )
    return _node(tab, f"{key}_sink", "function", [[]], func=func, outputs=1)


def _step(tab: str, id_: str, to: str) -> dict[str, Any]:
    return _node(tab, id_, "function", [[to]], func="msg.payload.v += 1;\nreturn msg;", outputs=1)


def bench_flows(messages: int) -> list[dict[str, Any]]:
    chain: list[dict[str, Any]] = [{"id": "tc", "type": "tab", "label": "chain"}]
    chain += _pump("tc", "chain", ["chain_f0"], messages)
    for i in range(CHAIN_LEN):
        nxt = f"chain_f{i + 1}" if i + 1 < CHAIN_LEN else "chain_sink"
        chain.append(_step("tc", f"chain_f{i}", nxt))
    chain.append(_sink("tc", "chain", messages))
    fan: list[dict[str, Any]] = [{"id": "tf", "type": "tab", "label": "fanout"}]
    fan += _pump("tf", "fanout", ["fanout_fan"], messages)
    branches = [f"fanout_b{i}" for i in range(FAN)]
    fan.append(_node("tf", "fanout_fan", "function", [branches], func="return msg;", outputs=1))
    fan += [_step("tf", b, "fanout_sink") for b in branches]
    fan.append(_sink("tf", "fanout", messages * FAN))
    return chain + fan


def sustained_flow(rate: int, seconds: int) -> list[dict[str, Any]]:
    """inject -> pump sending at `rate` msg/s (catching up when its timer runs late) for
    `seconds` -> 3 function nodes. The pump counts what it sent in global `s_sent`."""
    func = (
        f"const rate = {rate}, t0 = Date.now(), end = t0 + {seconds * 1000};\n"
        "let i = 0;\n"
        "const t = setInterval(() => {\n"
        "  const now = Date.now();\n"
        "  const due = Math.floor((Math.min(now, end) - t0) * rate / 1000);\n"
        "  for (; i < due; i++) node.send({payload: {v: i % 100, w: i % 3}});\n"
        "  global.set('s_sent', i);\n"
        "  if (now >= end) clearInterval(t);\n"
        "}, 10);\n"
        "return null;"
    )
    nodes: list[dict[str, Any]] = [{"id": "ts", "type": "tab", "label": "sustained"}]
    nodes.append(_node("ts", "s_inj", "inject", [["s_pump"]], props=[], repeat="", once=False))
    nodes.append(_node("ts", "s_pump", "function", [["s_f0"]], func=func, outputs=1))
    nodes.append(_step("ts", "s_f0", "s_f1"))
    nodes.append(_step("ts", "s_f1", "s_f2"))
    nodes.append(_node("ts", "s_f2", "function", [[]], func="return null;", outputs=1))
    return nodes


def cpu_seconds(pid: int, *, main_thread: bool = False) -> float:
    """user+system CPU seconds of the process (all threads) or of its main thread only."""
    path = f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def global_value(nr: LocalNodeRed, key: str) -> str | None:
    body = requests.get(f"{nr.url}/context/global/{key}", timeout=10).json()
    return body.get("msg") if isinstance(body, dict) else None


def trial(nr: LocalNodeRed, key: str, timeout: float = 300) -> tuple[float, float, float]:
    """Run one burst; returns (elapsed seconds as measured inside Node-RED, process CPU seconds,
    main-thread CPU seconds)."""
    pid = nr._proc.pid  # type: ignore[union-attr]  # the Node-RED process LocalNodeRed started
    requests.delete(f"{nr.url}/context/global/{key}_ms", timeout=10)
    time.sleep(0.3)  # let the previous trial's tail (flushes) settle
    c0 = cpu_seconds(pid)
    m0 = cpu_seconds(pid, main_thread=True)
    nr.client.inject(f"{key}_inj")
    deadline = time.monotonic() + timeout
    while (ms := global_value(nr, f"{key}_ms")) in (None, "undefined", "(undefined)"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{key}: the sink did not finish within {timeout} s")
        time.sleep(0.05)
    c1 = cpu_seconds(pid)
    m1 = cpu_seconds(pid, main_thread=True)
    return float(ms) / 1000, c1 - c0, m1 - m0


def tap_stats(nr: LocalNodeRed) -> dict[str, Any]:
    body: dict[str, Any] = requests.get(f"{nr.url}/causal-tap/stats", timeout=10).json()
    return body


class RecordCounter:
    """Subscribes to a tap's record topic and counts unique seqs (paho, QoS 1); one byte per
    seq, so a 10-minute run fits in memory."""

    def __init__(self, topic: str) -> None:
        self.seen = bytearray()
        self.unique = 0
        self.top = 0
        self.records = 0
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.connect(*BROKER)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        ready.wait(10)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        batch = json.loads(message.payload)
        with self.lock:
            self.records += len(batch)
            for r in batch:
                seq = r["seq"]
                if seq >= len(self.seen):
                    self.seen.extend(bytes(max(seq + 1 - len(self.seen), 1 << 20)))
                if not self.seen[seq]:
                    self.seen[seq] = 1
                    self.unique += 1
                self.top = max(self.top, seq)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def saturated(args: argparse.Namespace, prefix: str) -> tuple[str, list[tuple[str, ...]]]:
    flows = bench_flows(args.messages)
    base_cfg = {"causalTap": {"instance": f"{prefix}-base"}}
    variants = {
        "base": ({"NODERED_CAUSAL_TAP_ENABLED": "0"}, base_cfg),
        "tap": ({}, {"causalTap": {"instance": f"{prefix}-tap"}}),
        "tap-nolineage": ({}, {"causalTap": {"instance": f"{prefix}-nl", "lineage": False}}),
        "tap-sample10": ({}, {"causalTap": {"instance": f"{prefix}-s10", "sample": 0.1}}),
        "tap-adaptive": (
            {},
            {
                "causalTap": {
                    "instance": f"{prefix}-ad",
                    "sampleMode": "adaptive",
                    "cpuBudget": 0.03,
                }
            },
        ),
    }
    variants = {k: v for k, v in variants.items() if k == "base" or k in args.variants}
    instances = {
        name: LocalNodeRed(args.version, flows=flows, plugins=[PLUGIN_DIR], env=env, settings=s)
        for name, (env, s) in variants.items()
    }
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    stats: dict[str, dict[str, Any]] = {}
    try:
        for nr in instances.values():
            nr.__enter__()
        exact = next(iter(instances.values())).version
        for key in ("chain", "fanout"):
            for nr in instances.values():  # warm-up (JIT, first-use allocations)
                trial(nr, key)
            for _ in range(args.trials):
                for name, nr in instances.items():
                    results.setdefault((key, name), []).append(trial(nr, key))
        for name, nr in instances.items():
            stats[name] = tap_stats(nr)
    finally:
        for nr in instances.values():
            nr.__exit__(None, None, None)

    deliveries = {"chain": CHAIN_LEN + 1, "fanout": 1 + 2 * FAN}
    m = args.messages
    rows = []
    for key in ("chain", "fanout"):
        base = results[(key, "base")]
        base_rate = statistics.median(m / r[0] for r in base)
        base_cpu = statistics.median(r[1] for r in base) / m
        base_main = statistics.median(r[2] for r in base) / m
        for name in instances:
            runs = results[(key, name)]
            rates = [m / r[0] for r in runs]
            rate = statistics.median(rates)
            cpu = statistics.median(r[1] for r in runs) / m
            main_cpu = statistics.median(r[2] for r in runs) / m
            extra = (cpu - base_cpu) * 1e6
            rows.append(
                (
                    key,
                    name,
                    f"{rate:,.0f} ({min(rates):,.0f}-{max(rates):,.0f})",
                    f"{rate / base_rate:.3f}",
                    f"{main_cpu * 1e6:.1f}",
                    f"{base_main / main_cpu:.3f}",
                    f"{cpu * 1e6:.1f}",
                    "" if name == "base" else f"{extra:+.1f} ({extra / deliveries[key]:+.2f})",
                )
            )
    drops = ", ".join(
        f"{name}: recorded {st.get('recorded', 0):,}, dropped {st.get('dropped', 0):,}, "
        f"failed {st.get('failed', 0)}" + (f", sample {st['sample']:g}" if "sample" in st else "")
        for name, st in stats.items()
        if name != "base"
    )
    head = (
        "flow",
        "variant",
        "msg/s median (min-max)",
        "msg/s ratio",
        "main-thread CPU µs/msg",
        "main-thread ratio",
        "process CPU µs/msg",
        "tap CPU µs/msg (/delivery)",
    )
    text = (
        f"Node-RED {exact}, M = {args.messages:,} messages per trial, {args.trials} trials per "
        f"variant after one warm-up, alternating. msg/s ratio = median tapped msg/s / median "
        "baseline msg/s (wall clock, hit by the machine's load); main-thread ratio = baseline / "
        "tapped CPU time of Node-RED's main thread per message, i.e. the throughput ratio when "
        "Node-RED is CPU-bound and the tap's shipping worker has a core of its own; process CPU "
        f"includes that worker. Tap counters at the end: {drops}.\n\n" + table(head, rows)
    )
    return text, rows


def sustained(args: argparse.Namespace, prefix: str) -> str:
    instance = f"{prefix}-sustained"
    counter = RecordCounter(f"nodered-causal/{instance}/records")
    settings = {"causalTap": {"instance": instance, "queueMax": args.queue_max}}
    try:
        with LocalNodeRed(
            args.version,
            flows=sustained_flow(args.rate, args.sustained),
            plugins=[PLUGIN_DIR],
            settings=settings,
        ) as nr:
            pid = nr._proc.pid  # type: ignore[union-attr]
            c0 = cpu_seconds(pid)
            nr.client.inject("s_inj")
            time.sleep(args.sustained + 3)
            cpu = cpu_seconds(pid) - c0
            st = tap_stats(nr)
            sent = int(float(global_value(nr, "s_sent") or 0))
        time.sleep(1)
    finally:
        counter.close()
    with counter.lock:
        unique = counter.unique
        received = counter.records
        top = counter.top
    missing = top - unique
    deliveries = st["recorded"]
    head = (
        "target msg/s",
        "achieved msg/s",
        "seconds",
        "records",
        "received (dup)",
        "missing seq",
        "tap dropped (queue / shipper)",
        "tap failed",
        "Node-RED CPU %",
    )
    row = (
        f"{args.rate:,}",
        f"{sent / args.sustained:,.0f}",
        f"{args.sustained}",
        f"{deliveries:,}",
        f"{received:,} ({received - unique:,})",
        f"{missing:,}",
        f"{st['dropped']:,} ({st['dropped_queue']:,} / {st['dropped'] - st['dropped_queue']:,})",
        f"{st['failed']}",
        f"{100 * cpu / (args.sustained + 3):.0f}",
    )
    return (
        f"Sustained feed through pump -> 3 function nodes (3 deliveries/msg), queueMax "
        f"{args.queue_max:,}, tap over MQTT QoS 1 "
        f"to the local Mosquitto, one paho subscriber counting seqs.\n\n{table(head, [row])}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version", default="4", choices=["4", "5"])
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--sustained", type=int, default=0, help="seconds of the sustained feed")
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--queue-max", type=int, default=50000, help="causalTap.queueMax (sustained)")
    ap.add_argument("--no-saturated", action="store_true", help="only the sustained feed")
    ap.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument(
        "--variants",
        default="tap,tap-nolineage,tap-sample10,tap-adaptive",
        type=lambda v: v.split(","),
        help="tapped variants beside base (tap, tap-nolineage, tap-sample10, tap-adaptive)",
    )
    args = ap.parse_args()
    header = machine()
    print(header)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    sections = []
    if not args.no_saturated:
        text, _rows = saturated(args, prefix)
        print(text)
        sections.append(text)
    if args.sustained:
        stext = sustained(args, prefix)
        print(stext)
        sections.append(stext)
    if not args.no_append:
        body = "\n\n".join(sections)
        section = (
            f"\n## Tap plugin overhead (bench_tap.py), "
            f"{dt.datetime.now().isoformat(timespec='minutes')}\n\n"
            f"Machine: {header}. The machine is shared with other helpers' builds and tests, "
            "which were loading it during the run: expect noise.\n\n"
            f"{body}\n"
        )
        append_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
