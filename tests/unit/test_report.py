from __future__ import annotations

import doctest
import json
import re
import struct
from pathlib import Path

import networkx as nx

import nodered_causal.report.draw
from nodered_causal.report import (
    Blame,
    layout,
    render_html,
    render_png,
    to_dot,
    to_svg,
    write_atomic,
)
from nodered_causal.report.draw import blame_colour


def _graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("in", name="inject", type="inject", tab="Main", x=100, y=80)
    g.add_node("fn", name="scale <x>", type="function", tab="Main", x=300, y=80)
    g.add_node("sf-a", name="inner", type="function", tab="Main", x=120, y=40, subflow_path=["sf"])
    g.add_node("sf", name="my subflow", type="subflow:def", tab="Main", x=500, y=80)
    g.add_node("out", name="", type="debug", tab="Other", x=200, y=200)
    g.add_edge("in", "fn", kind="wire", port=0)
    g.add_edge("fn", "sf-a", kind="subflow", port=0)
    g.add_edge("sf-a", "out", kind="link", port=0)
    return g


def test_layout_stacks_groups_in_bands_below_each_other() -> None:
    lay = layout(_graph())
    by_id = {n.id: n for n in lay.nodes}
    assert [b[0] for b in lay.bands] == ["Main", "Main / my subflow", "Other"]
    assert by_id["in"].x == 100 and by_id["fn"].x == 300
    assert by_id["in"].y == by_id["fn"].y  # same editor row stays one row
    assert by_id["in"].y < by_id["sf-a"].y < by_id["out"].y  # bands never overlap
    assert by_id["out"].label == "debug"  # unnamed node falls back to its type


def test_blame_colour_scales_with_share_and_greys_unblamed() -> None:
    assert blame_colour(None, 1.0) == "#eeeeee"
    assert blame_colour(Blame(0.0, blamed=False), 1.0) == "#eeeeee"
    assert blame_colour(Blame(0.5, blamed=False), 1.0) == "#cbcbcb"  # a share, not blamed: grey
    assert blame_colour(Blame(1.0, blamed=True), 1.0) == "#ff2828"
    assert blame_colour(Blame(0.0, blamed=True), 1.0) == "#ffe6e6"


def test_svg_escapes_names_and_carries_hover_intervals() -> None:
    svg = to_svg(_graph(), {"fn": Blame(2.0, 1.5, 2.5, True)}, highlight=["fn"])
    assert "scale &lt;x&gt;" in svg and "scale <x>" not in svg
    assert "interval [1.5, 2.5]  (blamed)" in svg
    assert svg.count('class="node"') == 5
    assert svg.count('class="edge"') == 3
    assert 'data-id="fn" data-blamed="true"' in svg
    assert 'stroke="#1f4fd1"' in svg


def test_dot_pins_positions() -> None:
    dot = to_dot(_graph())
    assert re.search(r'"in" \[.*pos="100,-\d+!"', dot)
    assert '"fn" -> "sf-a";' in dot


def test_html_embeds_summary_cases_and_data() -> None:
    page = render_html(
        _graph(),
        title="Campaign <1>",
        blame={"fn": Blame(1.0, 0.5, 1.5, True)},
        summary={"ac1": 0.9, "n_cases": 20},
        cases=[{"node": "fn", "rank_of_true": 1, "_class": "hit"}],
        data={"x": "</script>"},
    )
    assert "<title>Campaign &lt;1&gt;</title>" in page
    assert "<td>ac1</td><td>0.9</td>" in page
    assert '<tr class="hit"><td>fn</td><td>1</td></tr>' in page
    blob = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert blob and json.loads(blob.group(1)) == {"x": "</script>"}


def test_write_atomic_leaves_no_temp_files(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "sub" / "r.html", "hello")
    assert target.read_text() == "hello"
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]


def test_png_is_a_real_png_of_plausible_size(tmp_path: Path) -> None:
    out = render_png(_graph(), tmp_path / "f.png", {"fn": Blame(1.0, blamed=True)})
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 300 and height > 150


def test_doctests() -> None:
    result = doctest.testmod(nodered_causal.report.draw)
    assert result.attempted > 0 and result.failed == 0
