"""A small fleet for real: three Node-RED instances with the tap run the same flow (one of them
with a miscalibrated function node), two collectors share the subscription on a private
Mosquitto and write into PostgreSQL, one collector is SIGKILLed mid-run and restarted. Every
record each tap made is stored exactly once, and ``attribute --across-instances`` names the odd
instance and its node."""

from __future__ import annotations

import concurrent.futures
import copy
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.collector import PostgresStore
from nodered_causal.nodered import LocalNodeRed
from nodered_causal.nodered.runtime import PLUGIN_DIR
from tests.mqtt_helpers import mosquitto, spawn_collect

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TAPS = ("line-1", "line-2", "line-3")
ODD = "line-2"  # its calibrate node adds 5 degrees


def flows(bias: float, *, running: bool = True) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = json.loads((REPO / "flows" / "sensor-pipeline.json").read_text())
    nodes = copy.deepcopy(nodes)
    for node in nodes:
        if node["id"] == "src_tick":
            node["repeat"] = "0.01" if running else ""  # 100 messages/s per instance, or none
        if node["id"] == "calibrate" and bias:
            node["func"] = f"msg.payload.temperature += {bias};\n" + node["func"]
    return nodes


def collect(port: int, store: str, client_id: str, *url: str) -> subprocess.Popen[str]:
    args = ("--shared", "fleet", "--client-id", client_id, "--store", store, "--run", "plant")
    return spawn_collect(port, *args, *url, json_report=True)


def stored_total(url: str) -> int:
    with PostgresStore(url, create=False) as store:
        return sum(store.counts("plant").values())


def last_stats(store: PostgresStore) -> dict[str, tuple[int, int]]:
    """tap -> (seq, recorded) of its newest stats record: what the tap says it made so far."""
    cols = store.record_columns("plant", kinds=("stats",))
    out: dict[str, tuple[int, int]] = {}
    for tap, seq, made in zip(cols["tap"], cols["seq"], cols["recorded"], strict=True):
        if seq > out.get(tap, (0, 0))[0]:
            out[tap] = (seq, made)
    return out


def all_stored(url: str) -> bool:
    """Every tap's newest stats record is its newest record, and everything before it is here."""
    with PostgresStore(url, create=False) as store:
        stats = last_stats(store)
        streams = {c.tap: c for c in store.completeness("plant")}
    return set(stats) == set(TAPS) and all(
        streams[t].last_seq == stats[t][0] == stats[t][1] == streams[t].received for t in TAPS
    )


def test_a_fleet_into_postgres_with_a_killed_collector(tmp_path: Path, pg_url: str) -> None:
    with mosquitto(tmp_path, "max_queued_messages 0") as port, ExitStack() as stack:
        b = collect(port, pg_url, "coll-b")  # subscribed before the taps publish
        a = b
        instances = [
            LocalNodeRed(
                "4",
                flows=flows(5.0 if tap == ODD else 0.0),
                plugins=[PLUGIN_DIR],
                settings={
                    "causalTap": {
                        "instance": tap,
                        "url": f"mqtt://127.0.0.1:{port}",
                        "flushMs": 50,
                    }
                },
                env={"NODERED_CAUSAL_FLOW_SEED": str(i + 1)},
            )
            for i, tap in enumerate(TAPS)
        ]
        with concurrent.futures.ThreadPoolExecutor(len(instances)) as pool:
            for nr in pool.map(lambda n: n.__enter__(), instances):
                stack.callback(nr.__exit__, None, None, None)
        try:
            a = collect(port, pg_url, "coll-a", "--url", instances[0].url)  # notes the flow
            time.sleep(3)
            a.send_signal(signal.SIGKILL)  # mid-run: no drain, no ack, no unsubscribe
            a.communicate(timeout=10)
            killed_at = stored_total(pg_url)
            time.sleep(1.5)
            assert stored_total(pg_url) > killed_at  # b goes on alone
            a = collect(port, pg_url, "coll-a")  # its share waited in its session
            time.sleep(2)
            for i, nr in enumerate(instances):  # traffic stops; the taps' next stats say it all
                nr.client.deploy(flows(5.0 if TAPS[i] == ODD else 0.0, running=False))
            deadline = time.monotonic() + 30
            while not all_stored(pg_url) and time.monotonic() < deadline:
                time.sleep(0.3)
            reports = []
            for proc in (a, b):
                proc.send_signal(signal.SIGTERM)
                out, err = proc.communicate(timeout=30)
                assert proc.returncode == 0, err
                reports.append(json.loads(out))
        finally:
            for proc in (a, b):
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()

    assert all(r["ingest"]["records"] > 0 for r in reports)  # both shared the load
    with PostgresStore(pg_url, create=False) as store:
        run = store.run("plant")
        completeness = {c.tap: c for c in store.completeness("plant")}
        newest = last_stats(store)
    assert run.taps == TAPS and run.dag is not None
    for tap in TAPS:
        c = completeness[tap]
        seq, made = newest[tap]
        # the tap's last stats record says how many records it made: all stored, each once
        assert (c.first_seq, c.last_seq, c.gaps, c.dropped, c.ok) == (1, made, 0, 0, True), c
        assert c.received == made == seq

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nodered_causal",
            "attribute",
            "--store",
            pg_url,
            "--across-instances",
            "--run",
            "plant",
            "--target",
            "sink",
            "--window",
            "0.5",
            "--json",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    fleet = json.loads(proc.stdout)
    assert fleet["culprit"] == [ODD, "calibrate"], fleet["differs"]
    assert fleet["differs"] == [ODD] and fleet["instances"] == list(TAPS)
