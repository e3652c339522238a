"""Benchmark the record store: batch insert rate and record_columns() time, SQLite vs DuckDB.

    python benchmarks/bench_store.py             # 1M records: the Store (+ DuckDB if importable)
    python benchmarks/bench_store.py -n 200000 --no-append

Records are fabricated (seeded): 20 nodes, a third with no values, a third with one, a third with
two payload value paths, batches of 200 records (a typical tap batch), one stats record per 1000.
The DuckDB variant stores the same columns in one table (values as columns too) and is written
the two ways a collector could: row-wise executemany per batch, and one Arrow table per batch.
Prints a table and appends a dated section to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import append_results, machine  # noqa: E402  (benchmarks/ is on sys.path)

from nodered_causal.collector.store import Store  # noqa: E402

BATCH = 200


def fabricate(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    nodes = [f"node{i:02d}" for i in range(20)]
    out: list[dict[str, Any]] = []
    t0 = 1_700_000_000_000_000_000
    for seq in range(n):
        if seq % 1000 == 999:
            out.append(
                {
                    "v": 1,
                    "tap": "bench",
                    "boot": "b0",
                    "seq": seq,
                    "ts_ns": t0 + seq,
                    "kind": "stats",
                    "src": None,
                    "recorded": seq,
                    "dropped": 0,
                    "failed": 0,
                    "queue": 3,
                }
            )
            continue
        k = seq % 3
        values = (
            {}
            if k == 0
            else {"payload": rng.random()}
            if k == 1
            else {"payload.temperature": rng.gauss(20, 3), "payload.humidity": rng.random()}
        )
        out.append(
            {
                "v": 1,
                "tap": "bench",
                "boot": "b0",
                "seq": seq,
                "ts_ns": t0 + seq * 1000,
                "kind": "deliver",
                "src": rng.choice(nodes),
                "port": 0,
                "dst": rng.choice(nodes),
                "trace": seq - seq % 5,
                "parent": seq - 1 if seq % 5 else None,
                "payload": {"type": "number", "len": None, "values": values},
                "bytes": 20,
                "latency_ns": rng.randrange(1000, 90000),
                "error": None,
            }
        )
    return out


def bench_sqlite(records: list[dict[str, Any]], path: Path) -> dict[str, float]:
    with Store(path) as store:
        store.start_run("bench")
        t = time.perf_counter()
        for i in range(0, len(records), BATCH):
            store.insert("bench", records[i : i + BATCH])
        insert = time.perf_counter() - t
        store.end_run("bench")
    with Store(path, create=False) as store:  # a fresh reader, as the analysis would be
        t = time.perf_counter()
        cols = store.record_columns("bench")
        read = time.perf_counter() - t
        t = time.perf_counter()
        report = store.completeness("bench")
        comp = time.perf_counter() - t
    assert len(cols["seq"]) == sum(r["kind"] == "deliver" for r in records)
    assert report[0].gaps == 0
    return {
        "insert_s": insert,
        "read_s": read,
        "completeness_s": comp,
        "mb": path.stat().st_size / 1e6,
    }


_DUCK_COLS = (
    "tap",
    "boot",
    "seq",
    "ts_ns",
    "kind",
    "src",
    "port",
    "dst",
    "trace",
    "parent",
    "latency_ns",
    "bytes",
    "error",
    "payload",
    "payload.temperature",
    "payload.humidity",
)


def _duck_row(r: dict[str, Any]) -> tuple[Any, ...]:
    vals = (r.get("payload") or {}).get("values", {})
    return (*(r.get(c) for c in _DUCK_COLS[:13]), *(vals.get(c) for c in _DUCK_COLS[13:]))


def bench_duckdb(records: list[dict[str, Any]], path: Path, rowwise_limit: int) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa

    ddl = (
        "CREATE TABLE records (tap VARCHAR, boot VARCHAR, seq BIGINT, ts_ns BIGINT, kind VARCHAR,"
        " src VARCHAR, port INTEGER, dst VARCHAR, trace BIGINT, parent BIGINT, latency_ns BIGINT,"
        ' bytes BIGINT, error VARCHAR, "payload" DOUBLE, "payload.temperature" DOUBLE,'
        ' "payload.humidity" DOUBLE)'
    )
    out: dict[str, Any] = {}
    con = duckdb.connect(str(path))
    con.execute(ddl)
    sample = records[:rowwise_limit]
    marks = ", ".join("?" * len(_DUCK_COLS))
    t = time.perf_counter()
    for i in range(0, len(sample), BATCH):
        con.execute("BEGIN")
        con.executemany(
            f"INSERT INTO records VALUES ({marks})", [_duck_row(r) for r in sample[i : i + BATCH]]
        )
        con.execute("COMMIT")
    out["rowwise_rate"] = len(sample) / (time.perf_counter() - t)
    con.execute("DELETE FROM records")
    t = time.perf_counter()
    for i in range(0, len(records), BATCH):
        rows = [_duck_row(r) for r in records[i : i + BATCH]]
        batch = pa.table(
            {c: list(col) for c, col in zip(_DUCK_COLS, zip(*rows, strict=True), strict=True)}
        )
        con.register("batch", batch)
        con.execute("INSERT INTO records SELECT * FROM batch")
        con.unregister("batch")
    out["insert_s"] = time.perf_counter() - t
    # another process cannot open the file while this one has it open for writing
    probe = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r}, read_only=True)"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
    )
    out["concurrent_read"] = (
        "ok"
        if probe.returncode == 0
        else "fails: " + (probe.stderr.strip().splitlines() or ["?"])[-1][:90]
    )
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    t = time.perf_counter()
    cols = con.execute("SELECT * FROM records WHERE kind IN ('deliver', 'error')").fetchnumpy()
    data = {k: v.tolist() for k, v in cols.items()}  # the contract is dict[str, list]
    out["read_s"] = time.perf_counter() - t
    assert len(data["seq"]) == sum(r["kind"] == "deliver" for r in records)
    con.close()
    out["mb"] = path.stat().st_size / 1e6
    return out


def bench_mqtt_ingest(records: list[dict[str, Any]], tmp: Path, batch: int) -> float:
    """Records/s from first publish to last commit through a private Mosquitto configured as
    recommended (``max_queued_messages 0``; QoS 1, acks after each commit) into the Store."""
    import json

    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from nodered_causal.collector import Collector, parse_mqtt_url
    from tests.mqtt_helpers import mosquitto

    bodies = [json.dumps(records[i : i + batch]).encode() for i in range(0, len(records), batch)]
    with mosquitto(tmp, "max_queued_messages 0") as port, Store(tmp / "ingest.db") as store:
        settings = parse_mqtt_url(
            f"mqtt://127.0.0.1:{port}", topic="bench/+/records", client_id="nrc-bench"
        )
        pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=paho.MQTTv311)
        pub.max_inflight_messages_set(100)
        pub.max_queued_messages_set(0)
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        store.start_run("ingest")
        collector = Collector(store, "ingest", mqtt=settings).start()
        t = time.perf_counter()
        for b in bodies:
            pub.publish("bench/tap/records", b, qos=1)
        deadline = time.monotonic() + 300
        while collector.counts().batches < len(bodies) and time.monotonic() < deadline:
            time.sleep(0.01)
        elapsed = time.perf_counter() - t
        collector.shutdown()
        pub.disconnect()
        pub.loop_stop()
        stored = store.counts("ingest")["deliver"]
    expected = sum(r["kind"] == "deliver" for r in records)
    assert stored == expected, f"lost {expected - stored} of {expected} records"
    return len(records) / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("-n", type=int, default=1_000_000, help="records (default 1M)")
    ap.add_argument(
        "--rowwise",
        type=int,
        default=20_000,
        help="records for DuckDB's row-wise executemany (slow; default 20k)",
    )
    ap.add_argument("--no-duckdb", action="store_true")
    ap.add_argument(
        "--mqtt",
        type=int,
        default=200_000,
        metavar="N",
        help="MQTT ingest of N records via a private mosquitto (0: skip; default 200k)",
    )
    ap.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    info = machine()
    records = fabricate(args.n)
    n = len(records)
    lines = [
        f"| store | insert rec/s (batches of {BATCH}) | record_columns {n:,} | "
        "completeness | file MB | other process reads while writing |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        s = bench_sqlite(records, Path(tmp) / "bench.db")
        lines.append(
            f"| SQLite WAL (Store) | {n / s['insert_s']:,.0f} | {s['read_s']:.2f} s | "
            f"{s['completeness_s']:.2f} s | {s['mb']:.0f} | yes (WAL) |"
        )
        if not args.no_duckdb:
            try:
                import duckdb
            except ImportError:
                lines.append("| DuckDB | not installed | | | | |")
            else:
                d = bench_duckdb(records, Path(tmp) / "bench.duckdb", args.rowwise)
                lines.append(
                    f"| DuckDB {duckdb.__version__} executemany | {d['rowwise_rate']:,.0f} "
                    f"| | | | |"
                )
                lines.append(
                    f"| DuckDB {duckdb.__version__} Arrow per batch | "
                    f"{n / d['insert_s']:,.0f} | {d['read_s']:.2f} s (fetchnumpy+tolist) "
                    f"| | {d['mb']:.0f} | {d['concurrent_read']} |"
                )
    if args.mqtt:
        sample = records[: args.mqtt]
        lines += [
            "",
            "| MQTT ingest (own Mosquitto, max_queued_messages 0, QoS 1) | records/s |",
            "|---|---|",
        ]
        for size in (500, 50):
            with tempfile.TemporaryDirectory() as tmp:
                rate = bench_mqtt_ingest(sample, Path(tmp), size)
            lines.append(f"| {len(sample):,} records in batches of {size} | {rate:,.0f} |")
    table = "\n".join(lines)
    print(info)
    print(table)
    if not args.no_append:
        section = (
            f"\n## bench_store.py — {dt.date.today().isoformat()}\n\nMachine: {info}.\n\n{table}\n"
        )
        append_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
