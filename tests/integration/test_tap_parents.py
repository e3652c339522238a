"""Multi-parent lineage on a real Node-RED 4: a join's or batch's send lists every part it
received as ``parents``, checked against the deliveries into the node (records of the tap itself,
through the real broker), and the collector validates and stores the field.

Three sub-flows in one deploy:
- ``inj_a`` -> ``gen_a`` (an array of 3) -> split ``sp`` -> join ``ja`` (automatic) -> debug;
- ``inj_c`` -> ``fan`` (3 outputs) -> ``b1``/``b2``/``b3`` (their own maths, topic = branch) ->
  join ``jc`` (manual, key/value object by topic, count 3) -> debug;
- ``inj_b`` -> ``cnt`` -> batch ``bt`` (count 3) -> debug;
- ``inj_d`` -> ``cnt_d`` -> batch ``bo`` (count 3, overlap 2: a sliding window) -> debug.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.collector.store import Store
from nodered_causal.nodered import LocalNodeRed
from nodered_causal.nodered.runtime import PLUGIN_DIR
from nodered_causal.tap.records import parse_batch
from tests.integration.test_tap_plugin import Records, tap_config

pytestmark = pytest.mark.integration

N = 8  # messages per inject


@pytest.fixture
def records(mqtt_prefix: str) -> Iterator[Records]:
    recs = Records(mqtt_prefix)
    yield recs
    recs.sub.close()


def _flow() -> list[dict[str, Any]]:
    tab = "tp"

    def n(id_: str, type_: str, wires: list[list[str]] | None = None, **kw: Any) -> dict[str, Any]:
        return {"id": id_, "type": type_, "z": tab, "x": 100, "y": 100, "wires": wires or [], **kw}

    def fn(id_: str, wires: list[list[str]], func: str, outputs: int = 1) -> dict[str, Any]:
        return n(id_, "function", wires, func=func, outputs=outputs)

    def inject(id_: str, to: str) -> dict[str, Any]:
        return n(id_, "inject", [[to]], props=[], repeat="", once=False, topic="")

    counter = "const i = (context.get('i') || 0) + 1;\ncontext.set('i', i);\n"
    branch = "msg.topic = '{0}';\nmsg.payload = {{ i: msg.payload.i, v: {1} }};\nreturn msg;"
    join = {"timeout": "", "reduceRight": False, "joiner": "\\n", "joinerType": "str"}
    by_topic = {"build": "object", "property": "payload", "propertyType": "msg", "key": "topic"}
    return [
        {"id": tab, "type": "tab", "label": "parents"},
        inject("inj_a", "gen_a"),
        fn("gen_a", [["sp"]], counter + "return { payload: [i, 10 * i, 100 * i] };"),
        n("sp", "split", [["ja"]], splt="\\n", spltType="str", arraySplt=1, arraySpltType="len"),
        n("ja", "join", [["out_a"]], mode="auto", build="array", **join),
        n("out_a", "debug", active=False, tosidebar=False, complete="payload"),
        inject("inj_c", "fan"),
        fn(
            "fan",
            [["b1"], ["b2"], ["b3"]],
            counter + "const m = { payload: { i } };\nreturn [m, { payload: { i } }, "
            "{ payload: { i } }];",
            outputs=3,
        ),
        fn("b1", [["jc"]], branch.format("b1", "Math.sqrt(msg.payload.i)")),
        fn("b2", [["jc"]], branch.format("b2", "Math.log(1 + msg.payload.i)")),
        fn("b3", [["jc"]], branch.format("b3", "msg.payload.i * msg.payload.i")),
        n("jc", "join", [["out_c"]], mode="custom", count="3", **by_topic, **join),
        n("out_c", "debug", active=False, tosidebar=False, complete="payload"),
        inject("inj_b", "cnt"),
        fn("cnt", [["bt"]], counter + "return { payload: { i } };"),
        n("bt", "batch", [["out_b"]], mode="count", count="3", overlap="0", interval="10"),
        n("out_b", "debug", active=False, tosidebar=False, complete="payload"),
        inject("inj_d", "cnt_d"),
        fn("cnt_d", [["bo"]], counter + "return { payload: { i } };"),
        n("bo", "batch", [["out_d"]], mode="count", count="3", overlap="2", interval="10"),
        n("out_d", "debug", active=False, tosidebar=False, complete="payload"),
    ]


@pytest.mark.parametrize("sync", [False, True], ids=["async-delivery", "sync-delivery"])
def test_join_and_batch_sends_list_every_part(
    sync: bool, mqtt_prefix: str, records: Records, tmp_path: Path
) -> None:
    settings = {**tap_config(mqtt_prefix), "runtimeSyncDelivery": sync}
    with LocalNodeRed("4", flows=_flow(), plugins=[PLUGIN_DIR], settings=settings) as nr:
        for _ in range(N):
            for inj in ("inj_a", "inj_c", "inj_b", "inj_d"):
                nr.client.inject(inj)
            time.sleep(0.02)  # one group at a time through each join (see the module docstring)

        def done(rs: list[dict[str, Any]]) -> bool:
            sinks = [r for r in rs if r["kind"] == "deliver" and r["dst"].startswith("out_")]
            return len(sinks) >= N + N + N - N % 3 + 3 * (N - 2)

        records.wait(done)
    delivers = records.of("deliver")
    by_seq = {r["seq"]: r for r in delivers}
    into: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in delivers:
        into[r["dst"]].append(r)
    assert not [r for r in delivers if "parents" in r and r["src"] not in ("ja", "jc", "bt", "bo")]

    # split -> join (auto): each output lists the three parts of its own split
    out_a = [r for r in delivers if r["src"] == "ja"]
    assert len(out_a) == N
    for out in out_a:
        parts = [r["seq"] for r in into["ja"] if r["trace"] == out["trace"]]
        assert len(parts) == 3
        assert out["parents"] == parts
        assert out["parent"] == parts[-1]
        i = by_seq[parts[0]]["payload"]["values"]["payload"]
        assert out["payload"]["values"] == {
            "payload[0]": i,
            "payload[1]": 10 * i,
            "payload[2]": 100 * i,
        }

    # three branches -> join by count (key/value): the parents are the three deliveries whose
    # values the output object holds, one per branch
    out_c = [r for r in delivers if r["src"] == "jc"]
    assert len(out_c) == N
    for out in out_c:
        parents = [by_seq[p] for p in out["parents"]]
        assert sorted(p["src"] for p in parents) == ["b1", "b2", "b3"]
        assert all(p["dst"] == "jc" for p in parents)
        for p in parents:
            for leaf in ("i", "v"):
                got = out["payload"]["values"][f"payload.{p['src']}.{leaf}"]
                assert got == p["payload"]["values"][f"payload.{leaf}"]
        assert out["parent"] == out["parents"][-1]

    # batch by count: the three messages released together each list the whole batch, in the
    # order received, and each one's parent is its own delivery into the batch
    out_b = [r for r in delivers if r["src"] == "bt"]
    assert len(out_b) == N - N % 3
    seqs_in = [r["seq"] for r in into["bt"]]
    for k in range(0, len(out_b), 3):
        batch = out_b[k : k + 3]
        assert [r["parent"] for r in batch] == seqs_in[k : k + 3]
        assert all(r["parents"] == seqs_in[k : k + 3] for r in batch)

    # batch by count with overlap 2: each window of three (clones of the newest three readings)
    # lists the three readings it holds, not just the one received since the previous window
    out_d = [r for r in delivers if r["src"] == "bo"]
    assert len(out_d) == 3 * (N - 2)
    seqs_d = [r["seq"] for r in into["bo"]]
    for w in range(N - 2):
        window = out_d[3 * w : 3 * w + 3]
        assert all(r["parents"] == seqs_d[w : w + 3] for r in window), w
        values = [r["payload"]["values"]["payload.i"] for r in window]
        assert values == [by_seq[q]["payload"]["values"]["payload.i"] for q in seqs_d[w : w + 3]]

    # the collector accepts the field and the store gives it back
    bodies = list(records.sub.raw)
    parsed = [parse_batch(b) for b in bodies]
    assert not [r for p in parsed for r in p.rejected]
    with Store(tmp_path / "runs.db") as store:
        store.start_run("r")
        for p in parsed:
            store.insert("r", p.records)
        cols = store.record_columns("r")
    stored = dict(zip(cols["seq"], cols["parents"], strict=True))
    for r in delivers:
        assert stored[r["seq"]] == r.get("parents")
