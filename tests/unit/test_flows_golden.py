"""Golden fixtures: tests/fixtures/flows/<construct>.json in, <construct>.expected out.

Each ``.expected`` file says, in its comments, which part of the Node-RED runtime source the
expected hops follow (checked by hand). Lines: ``edge SRC PORT|- DST KIND``, ``warning CODE:
MESSAGE``, ``note MESSAGE``, ``rev REV``. Edges compare as a set; warnings and notes as lists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nodered_causal.flows import Edge, load_flow

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "flows"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def _expected(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"edge": [], "warning": [], "note": [], "rev": []}
    for line in (FIXTURES / f"{name}.expected").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        out[key].append(rest)
    return out


def _edge(text: str) -> Edge:
    source, port, target, kind = text.split()
    return Edge(source, target, None if port == "-" else int(port), kind)  # type: ignore[arg-type]


def test_every_fixture_has_expectations() -> None:
    assert len(CASES) >= 15
    for name in CASES:
        assert (FIXTURES / f"{name}.expected").exists(), name


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    expected = _expected(name)
    flow = load_flow(FIXTURES / f"{name}.json", source=f"{name}.json")
    want = {_edge(e) for e in expected["edge"]}
    assert len(want) == len(expected["edge"]), "duplicate edge line in the fixture"
    got = set(flow.edges)
    assert len(got) == len(flow.edges), "the IR holds a duplicate edge"
    assert sorted(got - want, key=str) == [] and sorted(want - got, key=str) == []
    assert [f"{w.code}: {w.message}" for w in flow.warnings] == expected["warning"]
    assert list(flow.notes) == expected["note"]
    if expected["rev"]:
        assert flow.rev == expected["rev"][0]
