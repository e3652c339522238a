"""Benchmark: collectors and stores for a fleet (issue 16).

``--ingest``: what one collector process stores per CPU second, SQLite vs PostgreSQL, and how
1 → 2 collectors sharing an MQTT subscription scale:

- *writer*: fabricated tap batches (4 taps, 500 records each, 3 payload values per record) go
  through the collector's :class:`Writer` (parse, validate, one transaction per queued group)
  into each store; records/s wall, per collector CPU second, and per CPU second of the
  PostgreSQL backend process that served it.
- *mqtt*: the same batches queued on a private Mosquitto (max_queued_messages 0) for 1 or 2
  ``collect --shared`` processes (their sessions exist before the publish, so the broker splits
  the backlog), then the collectors drain it into PostgreSQL: wall time to the last record, each
  collector's CPU.

``--fleet``: ten real Node-RED instances with the tap run the bundled sensor pipeline at a
combined ``--rate`` records/s; two shared collectors write into PostgreSQL; one collector is
SIGKILLed a third of the way in and restarted at two thirds; afterwards every tap's last stats
record is compared with what is stored: lost and duplicated.

    python benchmarks/bench_fleet.py --ingest [--records 200000]
    python benchmarks/bench_fleet.py --fleet [--instances 10] [--rate 10000] [--seconds 60]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres; a scratch database is created and dropped).
Appends a dated section to benchmarks/RESULTS.md (``--no-append`` to skip).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import append_results, machine  # noqa: E402  (benchmarks/ is on sys.path)

from nodered_causal.collector import PostgresStore, SqliteStore, Writer  # noqa: E402
from tests.mqtt_helpers import Publisher, free_port, spawn_collect, wait_port  # noqa: E402
from tests.pg_helpers import new_schema, scratch_database  # noqa: E402

T0 = 1_700_000_000_000_000_000
CLK = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def mosquitto(tmp: Path, extra: str) -> Iterator[tuple[int, int]]:
    """A private Mosquitto; yields (port, pid) so its CPU can be read."""
    port = free_port()
    conf = tmp / f"mosquitto-{port}.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n{extra}\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def batches(n_records: int, per_batch: int = 500, taps: int = 4) -> list[bytes]:
    """Tap batches as they arrive on the wire: ``taps`` streams, deliveries with 3 values."""
    out = []
    seq = dict.fromkeys(range(taps), 0)
    for b in range(n_records // per_batch):
        tap = b % taps
        records = []
        for _ in range(per_batch):
            seq[tap] += 1
            s = seq[tap]
            records.append(
                {
                    "v": 1,
                    "tap": f"line-{tap}",
                    "boot": "b0",
                    "seq": s,
                    "ts_ns": T0 + s * 1_000_000,
                    "kind": "deliver",
                    "src": f"n{s % 7}",
                    "port": 0,
                    "dst": f"n{s % 7 + 1}",
                    "trace": s - s % 7,
                    "parent": s - 1,
                    "payload": {
                        "type": "object",
                        "len": None,
                        "values": {
                            "payload.temperature": 21.0 + (s % 13) / 10,
                            "payload.humidity": 40.0 + (s % 11) / 10,
                            "payload.n": float(s % 5),
                        },
                    },
                    "bytes": 64,
                    "latency_ns": 12_000,
                    "error": None,
                }  # fmt: skip
            )
        out.append(json.dumps(records).encode())
    return out


def bench_writer(store: Any, data: list[bytes], backend_pid: int | None) -> dict[str, float]:
    store.start_run("bench")
    writer = Writer(store, "bench", max_pending=200)
    cpu0, db0, t0 = time.process_time(), cpu_of(backend_pid) if backend_pid else 0.0, time.time()
    for body in data:
        writer.submit(body)
    writer.shutdown(600)
    wall = time.time() - t0
    cpu = time.process_time() - cpu0
    db = (cpu_of(backend_pid) - db0) if backend_pid else float("nan")
    n = writer.counts().records
    return {"records": n, "wall": wall, "cpu": cpu, "db_cpu": db}


def collect_proc(port: int, store: str, client_id: str) -> subprocess.Popen[str]:
    args = ("--shared", "bench", "--client-id", client_id, "--store", store, "--run", "bench")
    return spawn_collect(port, *args)


def bench_mqtt(tmp: Path, url: str, data: list[bytes], n_collectors: int) -> dict[str, float]:
    total = sum(len(json.loads(b)) for b in data)
    with mosquitto(tmp, "max_queued_messages 0") as (port, broker):
        ids = [f"bench-{i}" for i in range(n_collectors)]
        for cid in ids:  # the sessions exist: the broker splits the backlog between them
            p = collect_proc(port, url, cid)
            p.send_signal(signal.SIGKILL)  # keep the subscription in the session
            p.communicate()
        broker0 = cpu_of(broker)
        pub = Publisher(port)
        pub.publish_all("nodered-causal/line-0/records", data, timeout=600)
        pub.close()
        broker_in = cpu_of(broker) - broker0
        t0 = time.time()
        procs = [collect_proc(port, url, cid) for cid in ids]
        store = PostgresStore(url, create=False)
        try:
            while sum(store.counts("bench").values()) < total:
                time.sleep(0.1)
                if time.time() - t0 > 900:
                    raise TimeoutError("collectors did not store everything in 900 s")
            wall = time.time() - t0
            cpus = [cpu_of(p.pid) for p in procs]
            broker_out = cpu_of(broker) - broker0 - broker_in
        finally:
            store.close()
            for p in procs:
                p.send_signal(signal.SIGTERM)
                p.communicate(timeout=60)
    return {
        "records": total,
        "wall": wall,
        "cpu": sum(cpus),
        "cpus": cpus,  # type: ignore[dict-item]
        "broker": broker_in + broker_out,
    }


def ingest(args: argparse.Namespace) -> str:
    data = batches(args.records)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, scratch_database() as db:
        with SqliteStore(Path(tmp) / "bench.db") as store:
            w = bench_writer(store, data, None)
            store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            w["bytes"] = (Path(tmp) / "bench.db").stat().st_size
            rows.append(("SQLite (file, WAL)", w))
        with PostgresStore(new_schema(db)) as store:
            (pid,) = store._conn.execute("SELECT pg_backend_pid()").fetchone()
            w = bench_writer(store, data, pid)
            (w["bytes"],) = store._conn.execute(
                "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                "WHERE inhparent = 'records'::regclass"
            ).fetchone()
            rows.append(("PostgreSQL (COPY, day partitions)", w))
        scaling = [(n, bench_mqtt(Path(tmp), new_schema(db), data, n)) for n in (1, 2)]
    lines = [
        "| store | records | wall rec/s | rec per collector CPU s | rec per DB backend CPU s | "
        "bytes/record on disk (records + indexes) |",
        "|---|---|---|---|---|---|",
    ]
    for name, w in rows:
        db_rate = f"{w['records'] / w['db_cpu']:,.0f}" if w["db_cpu"] == w["db_cpu"] else "-"
        lines.append(
            f"| {name} | {w['records']:,} | {w['records'] / w['wall']:,.0f} | "
            f"{w['records'] / w['cpu']:,.0f} | {db_rate} | {w['bytes'] / w['records']:.0f} |"
        )
    lines += [
        "",
        "| shared collectors (MQTT → PostgreSQL) | records | wall s | rec/s | collector CPU s "
        "(each) | rec per collector CPU s | broker CPU µs/record (in + out) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, m in scaling:
        each = ", ".join(f"{c:.1f}" for c in m["cpus"])  # type: ignore[attr-defined]
        lines.append(
            f"| {n} | {m['records']:,} | {m['wall']:.1f} | {m['records'] / m['wall']:,.0f} | "
            f"{each} | {m['records'] / m['cpu']:,.0f} | {m['broker'] / m['records'] * 1e6:.2f} |"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def fleet_instances(n: int, port: int, per_instance_msgs: float) -> Iterator[list[Any]]:
    import concurrent.futures
    import copy

    from nodered_causal.nodered import LocalNodeRed
    from nodered_causal.nodered.runtime import PLUGIN_DIR

    nodes = json.loads((ROOT / "flows" / "sensor-pipeline.json").read_text())
    flow = copy.deepcopy(nodes)
    for node in flow:
        if node["id"] == "src_tick":
            node["repeat"] = f"{1 / per_instance_msgs:.4f}"
    instances = [
        LocalNodeRed(
            "4",
            flows=flow,
            plugins=[PLUGIN_DIR],
            settings={
                "causalTap": {"instance": f"site-{i:02d}", "url": f"mqtt://127.0.0.1:{port}"}
            },
            env={"NODERED_CAUSAL_FLOW_SEED": str(i + 1)},
        )  # fmt: skip
        for i in range(n)
    ]
    with contextlib.ExitStack() as stack, concurrent.futures.ThreadPoolExecutor(4) as pool:
        for nr in pool.map(lambda x: x.__enter__(), instances):
            stack.callback(nr.stop)
        yield instances


def fleet(args: argparse.Namespace) -> str:
    # the sensor pipeline makes ~7.6 deliveries per message (calibrate fans out to 2, the
    # humidity switch passes ~25 %, comfort fans out to 2)
    per_msg = 7.6
    per_instance = args.rate / args.instances / per_msg
    with tempfile.TemporaryDirectory() as tmp, scratch_database() as db:
        url = new_schema(db)
        with mosquitto(Path(tmp), "max_queued_messages 0") as (port, _):
            b = collect_proc(port, url, "fleet-b")
            with fleet_instances(args.instances, port, per_instance) as nrs:
                a = collect_proc(port, url, "fleet-a")
                t0 = time.time()
                time.sleep(args.seconds / 3)
                a.send_signal(signal.SIGKILL)
                a.communicate()
                killed_at = time.time() - t0
                time.sleep(args.seconds / 3)
                a = collect_proc(port, url, "fleet-a")
                restarted_at = time.time() - t0
                time.sleep(args.seconds / 3)
                for nr in nrs:  # stop the traffic; the taps' next stats records tell the count
                    flows, rev = nr.client.get_flows()
                    for node in flows:
                        if node.get("id") == "src_tick":
                            node["repeat"] = ""
                    nr.client.deploy(flows, rev=rev)
                elapsed = time.time() - t0
                time.sleep(3)
                report = settle(url, args.instances, timeout=600)
                cpus = [cpu_of(a.pid), cpu_of(b.pid)]
                redelivered = 0
                for p in (a, b):
                    p.send_signal(signal.SIGTERM)
                    _, err = p.communicate(timeout=60)
                    redelivered += int(err.rsplit(" duplicates", 1)[0].rsplit(" ", 1)[-1])
    made, stored, dup, lost = report
    lines = [
        f"{args.instances} Node-RED 4 instances (flows/sensor-pipeline.json at "
        f"{per_instance:.0f} msg/s each), taps over MQTT QoS 1 to a private Mosquitto, two "
        f"collectors with `--shared` into PostgreSQL; collector A SIGKILLed at {killed_at:.0f} s "
        f"and restarted at {restarted_at:.0f} s; traffic for {elapsed:.0f} s.",
        "",
        "| records made (taps' stats) | stored | rec/s | stored twice | received twice "
        "(skipped) | lost | collector CPU s (A, B) |",
        "|---|---|---|---|---|---|---|",
        f"| {made:,} | {stored:,} | {made / elapsed:,.0f} | {dup} | {redelivered} | {lost} | "
        f"{cpus[0]:.1f}, {cpus[1]:.1f} |",
    ]
    return "\n".join(lines)


def settle(url: str, n: int, timeout: float) -> tuple[int, int, int, int]:
    """Wait until every tap's newest stats record is its newest record; then (made, stored,
    duplicated, lost) from the taps' counters and the store."""
    deadline = time.time() + timeout
    while True:
        with PostgresStore(url, create=False) as store:
            cols = store.record_columns("bench", kinds=("stats",))
            newest: dict[str, tuple[int, int]] = {}
            for tap, seq, made in zip(cols["tap"], cols["seq"], cols["recorded"], strict=True):
                if seq > newest.get(tap, (0, 0))[0]:
                    newest[tap] = (seq, made)
            streams = {c.tap: c for c in store.completeness("bench")}
            (dup,) = store._conn.execute(
                "SELECT count(*) - count(DISTINCT (stream_id, seq)) FROM records"
            ).fetchone()
        # a killed collector's backlog holds older records than the newest stats record: wait
        # until nothing is missing below it either
        done = len(newest) == n and all(
            streams[t].last_seq == newest[t][0] == newest[t][1] == streams[t].received
            for t in newest
        )
        if done or time.time() > deadline:
            made = sum(m for _, m in newest.values())
            stored = sum(c.received for c in streams.values())
            lost = sum(max(0, newest[t][1] - streams[t].received) for t in newest)
            return made, stored, int(dup), lost
        time.sleep(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ingest", action="store_true")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--fleet", action="store_true")
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--rate", type=int, default=10_000, help="records/s of the whole fleet")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    started = dt.datetime.now().strftime("%Y-%m-%dT%H:%M")
    where = machine()
    parts = []
    if args.ingest:
        parts.append(ingest(args))
    if args.fleet:
        parts.append(fleet(args))
    text = "\n\n".join(parts)
    print(text)
    if not args.no_append and parts:
        append_results(
            f"\n## bench_fleet.py — {started} (issue 16)\n\nMachine: {where}.\n\n{text}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
