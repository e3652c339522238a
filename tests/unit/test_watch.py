"""watch's pure parts: time parsing, detector calibration, change points, the incident state
machine, default targets and flow diffs; the store's incident tables on both backends; the
watch loop on synthetic recordings (a fault is an incident blaming it, no fault is none)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest

import nodered_causal.watch as watch
from nodered_causal.cli import _types as t
from nodered_causal.watch import (
    Incident,
    WatchConfig,
    Watcher,
    calibrate,
    change_point,
    default_targets,
    diff_flows,
    next_state,
    parse_duration,
    parse_time,
)
from nodered_causal.watch.detector import SignalDetector, arl0, simulate_false_alarms

NOW = 1_796_522_400_000_000_000  # 2026-12-06T02:00:00Z


def test_exports() -> None:
    assert [n for n in watch.__all__ if not hasattr(watch, n)] == []


# -- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("now", NOW),
        ("-15m", NOW - 900 * 10**9),
        ("-2h", NOW - 7200 * 10**9),
        ("-500ms", NOW - 500 * 10**6),
        ("2026-12-06T02:00:00Z", NOW),
        ("2026-12-06T03:00:00+01:00", NOW),
        ("2026-12-06T02:00:00", NOW),  # no zone: UTC
        ("2026-12-06 02:00:01.5Z", NOW + 1_500_000_000),
    ],
)
def test_times(text: str, ns: int) -> None:
    assert parse_time(text, now_ns=NOW) == ns


@pytest.mark.parametrize("text", ["", "yesterday", "-", "-15x", "15m", "2026-13-01", "--1m"])
def test_bad_times_say_what_is_wanted(text: str) -> None:
    with pytest.raises(ValueError, match="ISO time|duration"):
        parse_time(text, now_ns=NOW)
    with pytest.raises(argparse.ArgumentTypeError, match="got"):
        t.TIME(text)


def test_durations() -> None:
    assert [parse_duration(x) for x in ("24h", "7d", "90s", "1.5", "2w", "250ms")] == [
        86400.0, 604800.0, 90.0, 1.5, 1209600.0, 0.25,
    ]  # fmt: skip
    for bad in ("", "-1h", "1y", "h", "nan", "1e3"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    assert t.DURATION("0") == 0.0


# -- detector -----------------------------------------------------------------------------------


def test_calibration_meets_the_requested_rate_by_siegmund() -> None:
    cal = calibrate(k=0.5, window_s=0.5, signals=6, alarms_per_day=1.0)
    need = 4 * 2 * 6 * 86400 / 0.5  # margin 4, two sides, six signals
    assert arl0(cal.k, cal.h) == pytest.approx(need, rel=1e-6)
    assert arl0(cal.k, cal.h * 0.99) < need
    assert cal.to_dict()["bound_false_alarms_per_day_per_target"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="must be > 0"):
        calibrate(k=0.0)


def test_false_alarms_on_noise_stay_within_the_calibrated_rate() -> None:
    """20,000 N(0, 1) windows at a rate that allows 10 alarms there (43.2 a day at 1 s windows):
    the detector, with its estimated reference, fires fewer than that."""
    cal = calibrate(k=0.5, window_s=1.0, signals=1, alarms_per_day=43.2)
    allowed = 20_000 * 43.2 / 86400
    alarms = simulate_false_alarms(cal, windows=20_000, seed=1)
    assert alarms <= allowed, (alarms, allowed)


def test_a_shift_fires_soon_and_the_change_point_is_placed() -> None:
    rng = np.random.default_rng(3)
    cal = calibrate(k=0.5, window_s=0.5, signals=6)
    det = SignalDetector(h=cal.h, warmup=60, reference_size=120)
    values = np.r_[rng.normal(10, 1, 200), rng.normal(12, 1, 60)]  # +2 sd at window 200
    fired = [i for i, x in enumerate(values) if det.feed(i, float(x))]
    assert fired and 200 <= fired[0] <= 200 + 2 * cal.h / (2 - 0.5), fired[:3]
    times = list(range(fired[0] - 100, fired[0] + 1))
    assert abs(change_point(times, [float(values[i]) for i in times]) - 200) <= 2


def test_outliers_are_clipped_and_constant_signals_have_a_floor() -> None:
    cal = calibrate(k=0.5, window_s=0.5, signals=6)
    det = SignalDetector(h=cal.h, warmup=20, count=True)
    for i in range(40):
        assert not det.feed(i, 25.0)
    assert det.stats() == (25.0, 5.0)  # Poisson floor sqrt(25)
    assert not det.feed(40, 10_000.0)  # one burst moves the CUSUM by at most Z_CLIP sds
    assert not any(det.feed(41 + i, 25.0) for i in range(3))


def test_back_to_reference() -> None:
    det = SignalDetector(h=10.0, warmup=10)
    for i in range(10):
        det.feed(i, float(i % 2))  # mean 0.5
    det.accept_before(10)
    for i in range(10, 30):
        det.feed(i, 5.0)
    assert not det.back_to_reference(10, 5)
    for i in range(30, 35):
        det.feed(i, 0.5)
    assert det.back_to_reference(30, 5)


# -- incidents ----------------------------------------------------------------------------------


def test_incident_state_machine() -> None:
    inc = Incident.new("sink", "value:payload", changed_ns=NOW, detected_ns=NOW + 5 * 10**9)
    assert inc.id.startswith("20261206-020000-") and inc.state == "open"
    up = inc.update(NOW + 10**10, blamed=("calibrate",))
    assert (up.state, up.updates, up.blamed) == ("update", 1, ("calibrate",))
    closed = up.update(NOW + 2 * 10**10).close(NOW + 3 * 10**10)
    assert (closed.state, closed.updates, closed.open) == ("closed", 2, False)
    with pytest.raises(ValueError, match="closed cannot take 'update'"):
        closed.update(NOW)
    assert next_state("open", "close") == "closed"
    doc = closed.doc()
    for key in ("id", "state", "target", "detected_at", "changed_at", "ranking", "blamed"):
        assert key in doc
    assert doc["changed_at"] == "2026-12-06T02:00:00.000Z"
    assert Incident.from_doc(doc).doc() == doc


def test_default_targets_and_deploy_diffs() -> None:
    dag = {
        "nodes": [{"id": i, "type": ty} for i, ty in
                  [("in", "inject"), ("f", "function"), ("sw", "switch"), ("d", "debug"),
                   ("c", "catch"), ("m", "mqtt out")]],
        "edges": [{"source": a, "target": b, "kind": k} for a, b, k in
                  [("in", "f", "wire"), ("f", "sw", "wire"), ("sw", "d", "wire"),
                   ("f", "m", "wire"), ("f", "c", "catch"), ("c", "d", "wire")]],
    }  # fmt: skip
    assert default_targets(dag) == ["m", "sw"]
    old = [{"id": "f", "func": "a", "x": 1}, {"id": "g", "x": 5}, {"id": "gone"}]
    new = [{"id": "f", "func": "b", "x": 1}, {"id": "g", "x": 9}, {"id": "new"}]
    assert diff_flows(old, new) == {"changed": ["f"], "added": ["new"], "removed": ["gone"]}


# -- the store ----------------------------------------------------------------------------------


def test_incidents_state_and_deploys_in_the_store(store: Any) -> None:
    doc = Incident.new("t", "throughput", changed_ns=NOW, detected_ns=NOW + 1).doc()
    store.put_incident(doc)
    store.put_incident({**doc, "state": "update", "updates": 1})
    other = Incident.new("u", "errors", changed_ns=NOW + 5, detected_ns=NOW + 9).doc()
    store.put_incident({**other, "state": "closed", "closed_ns": NOW + 10})
    assert [d["id"] for d in store.incidents()] == [other["id"], doc["id"]]
    assert [d["id"] for d in store.incidents(state="open")] == [doc["id"]]
    assert store.incident(doc["id"][:20])["updates"] == 1
    with pytest.raises(Exception, match="no incident 'zz'"):
        store.incident("zz")
    store.put_state("watch/r/x", {"a": [1.5, 2]})
    store.put_state("watch/r/x", {"a": [3]})
    assert store.state("watch/r/") == {"watch/r/x": {"a": [3]}}
    store.delete_state("watch/r/x")
    assert store.state() == {}
    store.add_deploy(NOW, "r2", "r1", {"changed": ["f"], "added": [], "removed": []})
    assert store.deploys(since_ns=NOW - 1) == [
        {"ts_ns": NOW, "rev": "r2", "previous_rev": "r1", "changed": ["f"], "added": [],
         "removed": []}
    ]  # fmt: skip
    assert store.deploys(since_ns=NOW + 1) == []


# -- the loop on synthetic recordings ------------------------------------------------------------


def _chain() -> dict[str, Any]:
    g = nx.DiGraph()
    for n, ty in [("src", "inject"), ("a", "function"), ("b", "function"), ("c", "function"),
                  ("out", "debug")]:  # fmt: skip
        g.add_node(n, type=ty, name=n)
    g.add_edges_from([("src", "a"), ("a", "b"), ("b", "c"), ("c", "out")])
    data: dict[str, Any] = nx.node_link_data(g, edges="edges")
    for e in data["edges"]:
        e.update(kind="wire", port=0, kinds=["wire"], ports=[0])
    return data


T0 = 1_700_000_000_000_000_000


def _watch(tmp_path: Path, fault: Any) -> tuple[list[dict[str, Any]], Any]:
    from nodered_causal.analysis.synthetic import linear_model, simulate_records, to_records
    from nodered_causal.collector import open_store

    data = _chain()
    dag = nx.node_link_graph(data, edges="edges").subgraph(["src", "a", "b", "c"]).copy()
    model = linear_model(dag)
    before = simulate_records(dag, n_windows=160, window_s=0.5, rate=10, seed=1, model=model,
                              start_ns=T0)  # fmt: skip
    after = simulate_records(dag, n_windows=80, window_s=0.5, rate=10, seed=2, model=model,
                             fault=fault, start_ns=T0 + 80 * 10**9)  # fmt: skip
    after["seq"] = [s + 10**6 for s in after["seq"]]
    records = to_records(before) + to_records(after)
    for r in records:
        r.update(tap="syn", boot="b1", kind="deliver")
    store = open_store(tmp_path / "w.db")
    store.start_run("watch", dag=data)
    store.insert("watch", records)
    published: list[dict[str, Any]] = []
    watcher = Watcher(store, "watch", dag=data, rev="r1", targets=["c"], publish=published.append,
                      config=WatchConfig(window_s=0.5, warmup=40, update_every_s=10))  # fmt: skip
    watcher.start_at(T0)
    now = T0
    while now < T0 + 122 * 10**9:
        now += 4 * 10**9
        watcher.step(now)
    return published, store


def test_a_fault_is_one_incident_blaming_its_node(tmp_path: Path) -> None:
    from nodered_causal.analysis.synthetic import Fault

    published, store = _watch(tmp_path, Fault("b", "bias", 3.0))
    assert published, "no incident"
    first = published[0]
    assert first["state"] == "open" and first["blamed"] == ["b"], first
    assert first["ranking"][0]["node"] == "b"
    assert abs(first["changed_ns"] - (T0 + 80 * 10**9)) <= 2 * 10**9
    assert {d["id"] for d in published} == {first["id"]}
    assert [d["state"] for d in published[1:]] == ["update"] * (len(published) - 1)
    assert store.incident(first["id"])["state"] == published[-1]["state"]
    # killed and restarted: the open incident comes back from the store
    again = Watcher(store, "watch", dag=_chain(), rev="r1", targets=["c"])
    assert [d["id"] for d in again.incident_docs()] == [first["id"]]
    store.close()


def test_no_fault_no_incident(tmp_path: Path) -> None:
    published, store = _watch(tmp_path, None)
    store.close()
    assert published == []


def test_a_restart_of_node_red_is_not_an_incident(tmp_path: Path) -> None:
    """Silence (Node-RED down for 6 s) and a new tap boot: skipped windows, no incident."""
    from nodered_causal.analysis.synthetic import linear_model, simulate_records, to_records
    from nodered_causal.collector import open_store

    data = _chain()
    dag = nx.node_link_graph(data, edges="edges").subgraph(["src", "a", "b", "c"]).copy()
    model = linear_model(dag)
    before = simulate_records(dag, n_windows=120, window_s=0.5, rate=10, seed=1, model=model,
                              start_ns=T0)  # fmt: skip
    after = simulate_records(dag, n_windows=80, window_s=0.5, rate=10, seed=2, model=model,
                             start_ns=T0 + 66 * 10**9)  # fmt: skip
    first, second = to_records(before), to_records(after)
    for boot, part in (("b1", first), ("b2", second)):
        for r in part:
            r.update(tap="syn", boot=boot, kind="deliver")
    records = first + second
    with open_store(tmp_path / "w.db") as store:
        store.start_run("watch", dag=data)
        store.insert("watch", records)
        published: list[dict[str, Any]] = []
        config = WatchConfig(window_s=0.5, warmup=40)
        watcher = Watcher(store, "watch", dag=data, rev="r1", targets=["c"],
                          publish=published.append, config=config)  # fmt: skip
        watcher.start_at(T0)
        for now in range(T0 + 4 * 10**9, T0 + 110 * 10**9, 4 * 10**9):
            watcher.step(now)
        assert published == []
        assert watcher.boots == {("syn", "b1"), ("syn", "b2")}


def test_a_deploy_is_noted_and_resets_a_changed_target(tmp_path: Path) -> None:
    from nodered_causal.collector import open_store

    flows = [
        {"id": "t1", "type": "tab", "label": "T"},
        {"id": "src", "type": "inject", "z": "t1", "x": 1, "y": 1, "wires": [["f"]]},
        {"id": "f", "type": "function", "z": "t1", "x": 2, "y": 1, "func": "return msg;",
         "wires": [["d"]]},
        {"id": "d", "type": "debug", "z": "t1", "x": 3, "y": 1, "wires": []},
    ]  # fmt: skip
    changed = [dict(n, func="msg.payload += 1; return msg;") if n["id"] == "f" else n
               for n in flows]  # fmt: skip
    with open_store(tmp_path / "w.db") as store:
        store.start_run("watch")
        from nodered_causal.collector.recording import snapshot_of
        from nodered_causal.flows import load_flow, to_causal_dag

        flow = load_flow(flows)
        dag = snapshot_of(flow, "r1", to_causal_dag(flow)).dag
        watcher = Watcher(store, "watch", dag=dag, rev="r1")
        assert list(watcher.targets) == ["f"]  # the flow's output: its wire leads to a debug
        assert watcher.deployed(flows, "r1") == {"changed": [], "added": [], "removed": []}
        assert store.deploys() == []  # the first sight of the flow is not a deploy
        det = watcher._detector("value:payload")
        for i in range(50):
            det.feed(i, float(i % 3))
        watcher.targets["f"].signals["value:payload"] = det
        assert det.warm
        assert watcher.deployed(changed, "r2", now_ns=NOW) == {
            "changed": ["f"], "added": [], "removed": []
        }  # fmt: skip
        assert not det.warm and det.reference == type(det.reference)()
        assert [(d["rev"], d["previous_rev"], d["changed"]) for d in store.deploys()] == [
            ("r2", "r1", ["f"])
        ]
        assert store.run("watch").flow_rev == "r2"
        assert watcher.deployed(changed, "r2") is None  # the same rev again: nothing


def test_retention_prunes_records_but_keeps_incidents(store: Any) -> None:
    from nodered_causal.analysis.synthetic import to_records

    store.start_run("watch")
    cols = {"seq": [1, 2, 3], "ts_ns": [T0, T0 + 10**9, T0 + 2 * 10**9], "src": ["a"] * 3,
            "dst": ["b"] * 3, "port": [0] * 3, "payload": [1.0, 2.0, 3.0]}  # fmt: skip
    records = to_records(cols)
    for r in records:
        r.update(tap="x", boot="b", kind="deliver")
    store.insert("watch", records)
    store.put_incident(Incident.new("b", "value", changed_ns=T0, detected_ns=T0).doc())
    store.start_run("other")
    store.insert("other", [dict(r, boot="b2") for r in records])
    assert store.prune_records(T0 + 10**9 + 1, run="watch") == 2
    assert store.record_columns("watch")["seq"] == [3]
    assert store.record_columns("other")["seq"] == [1, 2, 3]  # other runs are not watch's to prune
    assert len(store.incidents()) == 1


def test_the_change_point_of_a_second_change_ignores_the_first() -> None:
    """After an incident closed, the next change is placed among the windows since the detector
    resumed: the first incident's shifted windows are not part of the search."""
    rng = np.random.default_rng(5)
    cal = calibrate(k=0.5, window_s=0.5, signals=6)
    det = SignalDetector(h=cal.h, warmup=60, reference_size=120)
    values = np.r_[rng.normal(0, 1, 100), rng.normal(-2, 1, 40), rng.normal(0, 1, 30),
                   rng.normal(-1.6, 1, 60)]  # fmt: skip
    fired = []
    for i, x in enumerate(values):
        if i == 140:  # the first incident closed: the target was back at its reference
            det.resume()
        if det.feed(i, float(x)):
            fired.append((i, det.change_point(1)))
            det.accept_before(fired[-1][1])
    assert len(fired) == 2, fired
    (_, cp1), (_, cp2) = fired
    assert abs(cp1 - 100) <= 2 and abs(cp2 - 170) <= 3, fired
