"""Benchmark: a cached Node-RED (4 and 5) from ``LocalNodeRed(...)`` to a running flow.

For each version: ``start`` = ``__enter__`` (userDir, settings.js, process start, Admin API up,
flows running — detected on /comms), ``inject`` = ``POST /inject`` until the function node's
effect is visible in the global context, ``stop`` = ``__exit__`` (SIGTERM, wait, rm userDir).
The npm installs are warmed up first and not measured. With ``plugin/package.json`` present, a
third variant starts with the repo's plugin (its npm install cached by content hash).

Prints a table and appends a dated section to benchmarks/RESULTS.md.

    python benchmarks/bench_runtime.py [--repeat 5] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import append_results, machine  # noqa: E402  (benchmarks/ is on sys.path)

from nodered_causal.nodered import LocalNodeRed  # noqa: E402
from nodered_causal.nodered.install import ensure_node_red, node_binary  # noqa: E402
from nodered_causal.nodered.runtime import PLUGIN_DIR, tap_settings  # noqa: E402

FLOW: list[dict[str, Any]] = [
    {"id": "t", "type": "tab", "label": "bench"},
    {"id": "i", "type": "inject", "z": "t", "x": 100, "y": 60, "props": [], "wires": [["f"]]},
    {
        "id": "f",
        "type": "function",
        "z": "t",
        "x": 300,
        "y": 60,
        "outputs": 1,
        "wires": [[]],
        "func": "global.set('n', (global.get('n') || 0) + 1);\nreturn msg;",
    },
]


def one_run(version: str, plugins: list[Path], settings: dict[str, Any]) -> dict[str, float]:
    t0 = time.perf_counter()
    nr = LocalNodeRed(version, flows=FLOW, plugins=plugins, settings=settings)
    nr.__enter__()
    t1 = time.perf_counter()
    try:
        nr.client.inject("i")
        while requests.get(f"{nr.url}/context/global/n", timeout=5).json().get("msg") != "1":
            time.sleep(0.005)
        t2 = time.perf_counter()
    finally:
        nr.__exit__(None, None, None)
    t3 = time.perf_counter()
    return {"start": t1 - t0, "inject": t2 - t1, "stop": t3 - t2}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    header = machine()
    variants: list[tuple[str, str, list[Path], dict[str, Any]]] = [
        ("4", "no plugin", [], {}),
        ("5", "no plugin", [], {}),
    ]
    if (PLUGIN_DIR / "package.json").exists():
        tap = tap_settings("http://127.0.0.1:9")  # an unreachable collector: the tap drops
        variants += [
            ("4", "repo plugin/", [PLUGIN_DIR], tap),
            ("5", "repo plugin/", [PLUGIN_DIR], tap),
        ]
    rows = []
    for version, label, plugins, settings in variants:
        ensure_node_red(version)
        node_binary(version)
        one_run(version, plugins, settings)  # warm-up: page cache, plugin npm install
        runs = [one_run(version, plugins, settings) for _ in range(args.repeat)]
        with LocalNodeRed(version) as nr:
            exact = nr.version
        cols = {k: [r[k] for r in runs] for k in ("start", "inject", "stop")}
        rows.append(
            (
                exact,
                label,
                *(f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for v in cols.values()),
            )
        )
    head = ("Node-RED", "variant", "start → running flow s", "inject → effect s", "stop s")
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    table = "\n".join(lines)
    print(header)
    print(table)
    if not args.no_append:
        section = (
            f"\n## Managed Node-RED start-up (bench_runtime.py), "
            f"{dt.datetime.now().isoformat(timespec='minutes')}\n\n"
            f"Machine: {header}. Median (min-max) of {args.repeat} runs after one warm-up; "
            "npm installs cached. Other helpers were loading the machine during the run.\n\n"
            f"{table}\n"
        )
        append_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
