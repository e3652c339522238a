"""The collect / runs commands as a user runs them (subprocesses, HTTP on a free local port)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from nodered_causal.collector import Store
from tests.collector_records import body, rec, stats
from tests.mqtt_helpers import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_collect_over_http_then_runs_list_show_export(  # type: ignore[no-untyped-def]
    tmp_path: Path, run_cli, store_location: str
) -> None:
    """The same commands on both backends (a SQLite file, a PostgreSQL URL)."""
    db = store_location
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nodered_causal",
            "collect",
            "--http",
            f"127.0.0.1:{port}",
            "--store",
            str(db),
            "--run",
            "web",
            "--status-every",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        assert "collecting run 'web'" in proc.stderr.readline()
        url = f"http://127.0.0.1:{port}/v1/records"
        records = [
            rec(0, values={"payload.t": 20.5}),
            rec(1, values={"payload": 3.0}),
            rec(2, kind="error", dst=None, error="boom", values={}),
            stats(3),
            rec(5),
        ]
        assert requests.post(url, data=body(records), timeout=10).json() == {
            "accepted": 5,
            "rejected": 0,
        }
        assert requests.post(url, data=body([rec(6, v=7)]), timeout=10).json()["rejected"] == 1
        # readable while the collector runs
        listed = run_cli("runs", "list", "--store", str(db), "--json")
        assert listed.returncode == 0, listed.stderr
        (entry,) = json.loads(listed.stdout)
        assert (entry["name"], entry["end_ns"], entry["taps"], entry["records"]) == (
            "web",
            None,
            ["tap1"],
            6,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped: 5 records stored, 1 rejected" in err

    text = run_cli("runs", "list", "--store", str(db))
    assert text.returncode == 0 and text.stdout.splitlines()[1].startswith("web ")

    show = run_cli("runs", "show", "web", "--store", str(db), "--json")
    report = json.loads(show.stdout)
    assert report["counts"] == {
        "deliver": 3,
        "error": 1,
        "complete": 0,
        "stats": 1,
        "counts": 0,
        "rejected": 1,
        "values_cut": 0,
    }
    (c,) = report["completeness"]
    assert (c["received"], c["rejected"], c["gaps"], c["gap_ranges"]) == (5, 1, 1, [[4, 4]])
    assert report["ok"] is False and "1 records missing" in report["problems"][0]
    assert report["rejected"][0]["reason"] == "unsupported schema version 7 (expected 1)"
    human = run_cli("runs", "show", "web", "--store", str(db))
    assert "missing seq 4..4" in human.stdout

    out = tmp_path / "web.csv"
    exp = run_cli("runs", "export", "web", "--format", "csv", "-o", str(out), "--store", str(db))
    assert exp.returncode == 0, exp.stderr
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:8] == ["seq", "ts_ns", "kind", "src", "port", "dst", "trace", "parent"]
    assert [(r["seq"], r["kind"], r["payload.t"], r["payload"]) for r in rows] == [
        ("0", "deliver", "20.5", ""),
        ("1", "deliver", "", "3.0"),
        ("2", "error", "", ""),
        ("5", "deliver", "", "5.0"),
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".web.csv")]  # no temp file left

    pq = tmp_path / "web.parquet"
    exp = run_cli(
        "runs",
        "export",
        "web",
        "--format",
        "parquet",
        "-o",
        str(pq),
        "--store",
        str(db),
        "--kinds",
        "deliver",
    )
    assert exp.returncode == 0, exp.stderr
    import pyarrow.parquet as pqmod

    table = pqmod.read_table(pq).to_pydict()
    assert (table["seq"], table["payload"]) == ([0, 1, 5], [None, 3.0, 5.0])


def test_runs_errors(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    missing = run_cli("runs", "list", "--store", str(tmp_path / "none.db"))
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        f"StoreError: no record store at {tmp_path / 'none.db'}",
    )
    with Store(tmp_path / "runs.db") as store:
        store.start_run("a")
    unknown = run_cli("runs", "show", "b", "--store", str(tmp_path / "runs.db"))
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == f"StoreError: no run 'b' in {tmp_path / 'runs.db'} (runs: 'a')"
    usage = run_cli("collect", "--mqtt", "mqtt://h", "--http", "h:1", "--store", str(tmp_path))
    assert usage.returncode == 2 and "not allowed with argument" in usage.stderr


def test_help_has_examples(run_cli) -> None:  # type: ignore[no-untyped-def]
    for command in ("collect", "record", "runs"):
        proc = run_cli(command, "--help")
        assert proc.returncode == 0 and "examples:" in proc.stdout, command
