"""Benchmark: a generated 10,000-node flow export parsed to the causal DAG (goal <= 1 s).

The flow (seeded, so every run is the same): 10 tabs of chains of function/switch/change/
junction nodes with random forward wires and a few retry loops, 100 link out -> link in pairs
across tabs, 20 link calls with return link outs, a catch and a status node per tab, 4 subflow
definitions (one with a status output, one nesting another) and 200 subflow instances. Measured:
``load_flow(path)`` (read, decode, parse, all passes) and ``to_causal_dag`` (runtime graph), and
the condensed analysis DAG on top, median of ``--repeat`` runs; wall time and, since the machine
is shared, the CPU time of this process (``time.process_time``) for the file -> DAG step.

Prints a table and appends a dated section to benchmarks/RESULTS.md.

    python benchmarks/bench_parse.py [--repeat 5] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import append_results, machine  # noqa: E402  (benchmarks/ is on sys.path)

from nodered_causal.flows import load_flow, to_causal_dag  # noqa: E402

TABS = 10
INSTANCES = 200
LINK_PAIRS = 100
LINK_CALLS = 20
TARGET_RUNTIME_NODES = 10_000


def _node(
    nid: str, ntype: str, z: str, x: int, y: int, wires: list[list[str]], **kw: Any
) -> dict[str, Any]:
    return {"id": nid, "type": ntype, "z": z, "x": x, "y": y, "wires": wires, **kw}


def _subflows() -> tuple[list[dict[str, Any]], dict[str, int]]:
    """4 definitions; returns the items and the runtime node count of one instance of each."""
    items: list[dict[str, Any]] = []
    sizes: dict[str, int] = {}
    for k in range(4):
        sid = f"sf{k}"
        inner = [f"{sid}_{j}" for j in range(6)]
        items.append(
            {
                "id": sid,
                "type": "subflow",
                "name": f"Sub {k}",
                "in": [{"x": 40, "y": 40, "wires": [{"id": inner[0]}]}],
                "out": [
                    {"x": 700, "y": 40, "wires": [{"id": inner[4], "port": 0}]},
                    {"x": 700, "y": 100, "wires": [{"id": inner[1], "port": 1}]},
                ],
                **(
                    {"status": {"x": 700, "y": 160, "wires": [{"id": inner[2], "port": 0}]}}
                    if k == 1
                    else {}
                ),
            }
        )
        items += [
            _node(inner[0], "function", sid, 120, 40, [[inner[1]]]),
            _node(inner[1], "switch", sid, 220, 40, [[inner[2]], []], outputs=2),
            _node(inner[2], "change", sid, 320, 40, [[inner[3]]]),
            _node(inner[3], "link out", sid, 420, 40, [], mode="link", links=[inner[5]]),
            _node(inner[5], "link in", sid, 420, 100, [[inner[4]]], links=[inner[3]]),
            _node(inner[4], "junction", sid, 520, 40, [[]]),
            _node(f"{sid}_c", "catch", sid, 120, 160, [[]], scope=None),
        ]
        sizes[sid] = 1 + len(inner) + 1 + (1 if k == 1 else 0)
        if k == 3:  # nests an instance of sf0 between its change and link out
            items.append(_node(f"{sid}_n", "subflow:sf0", sid, 360, 100, [[inner[3]]]))
            items[-6]["wires"] = [[f"{sid}_n"]]  # inner[2] -> nested instance
            sizes[sid] += sizes["sf0"]
    return items, sizes


def generate(seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items, sizes = _subflows()
    tabs = [f"tab{t}" for t in range(TABS)]
    items += [{"id": t, "type": "tab", "label": f"Tab {i}"} for i, t in enumerate(tabs)]
    instances = [(f"inst{i}", f"sf{i % 4}", tabs[i % TABS]) for i in range(INSTANCES)]
    pending: list[tuple[str, str]] = []
    runtime_inner = sum(sizes[sf] for _, sf, _ in instances)
    per_tab = (TARGET_RUNTIME_NODES - runtime_inner - 2 * LINK_PAIRS - 2 * LINK_CALLS) // TABS - 2
    chains: dict[str, list[str]] = {}
    for t in tabs:
        ids = [f"{t}_n{i}" for i in range(per_tab)]
        chains[t] = ids
        kinds = ["function", "switch", "change", "junction", "delay", "template"]
        for i, nid in enumerate(ids):
            wires: list[list[str]] = [[]]
            if i == 0:
                items.append(_node(nid, "inject", t, 100, 40, [[ids[1]]], repeat="1"))
                continue
            nxt = [
                ids[j]
                for j in {min(i + 1, per_tab - 1), min(i + rng.randint(1, 20), per_tab - 1)}
                if j != i
            ]
            wires = [nxt]
            if rng.random() < 0.01 and i > 10:  # a retry loop
                wires.append([ids[i - rng.randint(1, 10)]])
            items.append(
                _node(
                    nid, kinds[i % len(kinds)], t, 100 + 150 * (i % 40), 40 + 60 * (i // 40), wires
                )
            )
        items.append(_node(f"{t}_catch", "catch", t, 100, 3000, [[ids[-1]]], scope=None))
        items.append(_node(f"{t}_status", "status", t, 300, 3000, [[]], scope=None))
    for iid, sf, t in instances:
        src = rng.choice(chains[t][: len(chains[t]) // 2])
        dst = rng.choice(chains[t][len(chains[t]) // 2 :])
        items.append(_node(iid, f"subflow:{sf}", t, 500, 3100, [[dst], [rng.choice(chains[t])]]))
        pending.append((src, iid))
    by_id = items_by_id(items)
    for src, iid in pending:
        _wire_to(by_id, src, iid)
    for p in range(LINK_PAIRS):
        a, b = sorted(rng.sample(tabs, 2))  # links run "downstream" only: no cross-tab loops
        lo, li = f"lo{p}", f"li{p}"
        items.append(_node(lo, "link out", a, 700, 3200, [], mode="link", links=[li]))
        items.append(_node(li, "link in", b, 100, 3200, [[rng.choice(chains[b])]], links=[lo]))
        _wire_to(by_id, rng.choice(chains[a]), lo)
    for c in range(LINK_CALLS):
        t = tabs[c % TABS]
        call, rin, ret = f"call{c}", f"rin{c}", f"ret{c}"
        body = rng.choice(chains[t])
        items.append(
            _node(
                call,
                "link call",
                t,
                300,
                3300,
                [[rng.choice(chains[t])]],
                links=[rin],
                linkType="static",
            )
        )
        items.append(_node(rin, "link in", t, 100, 3400, [[ret]], links=[]))
        items.append(_node(ret, "link out", t, 300, 3400, [], mode="return", links=[]))
        _wire_to(by_id, body, call)
    return items


def items_by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in items}


def _wire_to(by_id: dict[str, dict[str, Any]], src: str, dst: str) -> None:
    by_id[src]["wires"][0].append(dst)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    info = machine()
    data = generate()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flows.json"
        path.write_text(json.dumps(data))
        size_mb = path.stat().st_size / 1e6
        load_s, dag_s, cond_s, cpu_s = [], [], [], []
        for _ in range(args.repeat):
            c0 = time.process_time()
            t0 = time.perf_counter()
            flow = load_flow(path)
            t1 = time.perf_counter()
            graph = to_causal_dag(flow)
            t2 = time.perf_counter()
            c1 = time.process_time()
            dag = to_causal_dag(flow, condensed=True)
            t3 = time.perf_counter()
            load_s.append(t1 - t0)
            dag_s.append(t2 - t1)
            cond_s.append(t3 - t2)
            cpu_s.append(c1 - c0)
    export_nodes = sum(1 for n in data if "x" in n and n.get("z", "").startswith("tab"))
    total = [a + b for a, b in zip(load_s, dag_s, strict=True)]
    rows = [
        ("export", f"{len(data):,} items, {export_nodes:,} tab nodes, {size_mb:.1f} MB"),
        ("runtime graph", f"{graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges"),
        (
            "analysis DAG",
            f"{dag.number_of_nodes():,} nodes, {dag.number_of_edges():,} edges, "
            f"{len(dag.graph['cycles'])} cycles condensed",
        ),
        ("load_flow (read+parse+passes)", f"{statistics.median(load_s):.3f} s"),
        ("to_causal_dag", f"{statistics.median(dag_s):.3f} s"),
        (
            "**file -> runtime DAG, wall**",
            f"**{statistics.median(total):.3f} s** (goal <= 1 s; "
            f"min {min(total):.3f}, max {max(total):.3f})",
        ),
        (
            "file -> runtime DAG, CPU time of this process",
            f"{statistics.median(cpu_s):.3f} s (min {min(cpu_s):.3f})",
        ),
        ("condensed DAG (extra)", f"{statistics.median(cond_s):.3f} s"),
    ]
    table = ["| measure | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]]
    print(info)
    print("\n".join(table))
    if not args.no_append:
        section = [
            "",
            f"## bench_parse.py — {dt.date.today().isoformat()}",
            "",
            f"Machine: {info}. Median of {args.repeat} runs. Other helpers were loading the "
            "machine (see load avg).",
            "",
            *table,
            "",
        ]
        append_results("\n".join(section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
