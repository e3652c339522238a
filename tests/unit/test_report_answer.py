"""Reports people read: an Attribution → Answer → page, SVG, PNG; files 0644 and atomic."""

from __future__ import annotations

import doctest
import json
import re
import stat
from pathlib import Path

import networkx as nx
import pytest

import nodered_causal.report.answer
import nodered_causal.report.build
import nodered_causal.report.chart
from nodered_causal.analysis.result import Attribution
from nodered_causal.errors import ReportError
from nodered_causal.report import (
    Answer,
    Series,
    answer_from_attribution,
    before_after_svg,
    ranking_svg,
    render_answer,
    write_answer_report,
)


def _graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node("a1f3", name="read sensor", type="mqtt in", tab="Line 3", x=100, y=80)
    g.add_node("b7c2", name="calibrate", type="function", tab="Line 3", x=300, y=80)
    g.add_node("i9-d4", name="", type="function", tab="Line 3", x=80, y=40, subflow_path=["i9"])
    g.add_node("i9", name="smooth", type="subflow:sf", tab="Line 3", x=500, y=80)
    g.add_node("e5e5", name="score", type="function", tab="Line 3", x=700, y=80)
    g.add_edges_from([("a1f3", "b7c2"), ("b7c2", "i9-d4"), ("i9-d4", "e5e5")], kind="wire")
    return g


def _result(blamed: tuple[str, ...] = ("b7c2",)) -> Attribution:
    return Attribution(
        target="e5e5",
        metric="value",
        method="distribution_change",
        engine="fast",
        ranking=("b7c2", "i9-d4", "a1f3", "e5e5"),
        scores={"b7c2": 0.3, "i9-d4": 0.1, "a1f3": 0.0, "e5e5": 0.0},
        intervals={"b7c2": (0.2, 0.36), "i9-d4": (-0.05, 0.2), "a1f3": (0.0, 0.0)},
        blamed=blamed,
        changed_mechanisms=("b7c2", "i9-d4"),
        p_values={"b7c2": 1e-9, "i9-d4": 0.02},
        total=0.4,
        dataset_sizes={"baseline": 60, "incident": 60},
        runtime_s=0.1,
        seed=0,
        notes=("i9-d4: changed, but its interval includes zero",),
    )


def _answer(**kw: object) -> Answer:
    series = [
        Series.of("e5e5", "score", "average payload per 1 s window",
                  [(i, 1.0) for i in range(5)], [(i, 3.0) for i in range(5)],
                  before_label="run base", after_label="run inc"),
    ]  # fmt: skip
    return answer_from_attribution(
        _result(), _graph(), series=series, flow_rev="rev-42", answer_id="attr-1", **kw
    )


def _visible(page: str) -> str:
    """The text a reader sees without opening "Technical details" or hovering."""
    page = page.split('<details class="tech">')[0]
    page = re.sub(r"<title>.*?</title>", "", page, flags=re.S)
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    page = re.sub(r'data-id="[^"]*"', "", page)
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_answer_speaks_in_names_and_shares() -> None:
    answer = _answer()
    assert answer.title == "Why did the average value at “score” change?"
    assert answer.verdict == (
        "“calibrate” explains 75 % of the change in the average value at “score” "
        "(interval 50 % to 90 %)."
    )
    by_node = {r.node: r for r in answer.ranking}
    assert by_node["i9-d4"].name == "function in smooth"  # unnamed, inside a subflow instance
    assert by_node["b7c2"].share == pytest.approx(0.75)
    assert (by_node["b7c2"].share_low, by_node["b7c2"].share_high) == pytest.approx((0.5, 0.9))
    assert answer.notes == ("“function in smooth”: changed, but its interval includes zero",)


def test_answer_json_round_trips_and_rejects_bad_ids() -> None:
    answer = _answer(kind="incident", state="open", detected_at="2025-01-01T00:00:00Z")
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["ranking"][0] == pytest.approx({
        "node": "b7c2", "name": "calibrate", "score": 0.3, "low": 0.2, "high": 0.36,
        "share": 0.75, "share_low": 0.5, "share_high": 0.9, "blamed": True,
    })  # fmt: skip
    assert Answer.from_dict(data) == answer
    with pytest.raises(ValueError, match="id must be"):
        Answer.from_dict({**data, "id": "../etc/passwd"})
    with pytest.raises(ValueError, match="kind must be one of"):
        Answer.from_dict({**data, "kind": "rumour"})


def test_nothing_blamed_says_so() -> None:
    answer = answer_from_attribution(_result(blamed=()), _graph())
    assert answer.verdict.startswith("No significant change: nothing upstream explains")


def test_page_shows_names_not_ids_and_has_date_version_rev() -> None:
    page = render_answer(_graph(), _answer())
    seen = _visible(page)
    for node_id in ("b7c2", "a1f3", "e5e5", "i9-d4"):
        assert node_id not in seen, node_id
    for key in ("share_low", "p_value", "distribution_change", "ac1", "n_symptom"):
        assert key not in seen, key
    assert "calibrate" in seen and "75 % (50 %–90 %)" in seen
    assert "Flow revision: rev-42" in seen and "nodered-causal:" in seen and "Made:" in seen
    assert "run base: mean 1" in seen and "run inc: mean 3" in seen
    # ids are a hover away, and in the technical details
    assert "calibrate (function), id b7c2" in page
    assert "<td>b7c2</td>" in page.split('<details class="tech">')[1]
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    assert data and json.loads(data.group(1))["id"] == "attr-1"


def test_flow_drawing_colours_by_share() -> None:
    page = render_answer(_graph(), _answer())
    node = re.search(r'<g class="node" data-id="b7c2" data-blamed="true">.*?</g>', page, re.S)
    assert node and 'fill="#ff2828"' in node.group(0)  # the largest share: the darkest red
    other = re.search(r'<g class="node" data-id="i9-d4" data-blamed="false">.*?</g>', page, re.S)
    assert other and "25 % (-12 %–50 %)" in other.group(0) and "#ff" not in other.group(0)


def test_charts() -> None:
    s = Series.of("n", "score", "avg", [(0, 1), (1, float("nan")), (2, 2)], [(0, 5)],
                  mark=(2.0, 2.0))  # fmt: skip
    assert s.before == ((0.0, 1.0), (2.0, 2.0))  # NaN dropped
    svg = before_after_svg(s)
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 1
    long = Series.of("n", "x", "avg", [(i, i) for i in range(10_000)], [])
    assert len(long.before) == 240
    bars = ranking_svg(_answer().ranking[:2])
    assert bars.count('class="bar"') == 2 and "75 %" in bars and "interval 50 % to 90 %" in bars


def test_write_answer_report_files_are_0644_atomic_and_svg_needs_no_graphviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nodered_causal.report.write as write

    monkeypatch.setattr(write.shutil, "which", lambda name: None)
    (tmp_path / "out").mkdir()
    written = write_answer_report(tmp_path / "out" / "why.html", _graph(), _answer())
    assert [p.name for p in written] == ["why.html", "why.svg"]  # no graphviz: no PNG
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["why.html", "why.svg"]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert written[1].read_text().startswith("<svg")
    with pytest.raises(ReportError, match="graphviz is not installed"):
        write_answer_report(tmp_path / "why.png", _graph(), _answer())
    with pytest.raises(ReportError, match="must end in .html, .svg or .png"):
        write_answer_report(tmp_path / "why.pdf", _graph(), _answer())


def test_png_with_graphviz(tmp_path: Path) -> None:
    written = write_answer_report(tmp_path / "why.html", _graph(), _answer())
    assert [p.suffix for p in written] == [".html", ".svg", ".png"]
    assert written[2].read_bytes()[:4] == b"\x89PNG"
    assert stat.S_IMODE(written[2].stat().st_mode) == 0o644


def test_doctests() -> None:
    for module in (
        nodered_causal.report.answer,
        nodered_causal.report.build,
        nodered_causal.report.chart,
    ):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_push_answer_posts_the_document_and_says_why_it_failed(httpserver) -> None:  # type: ignore[no-untyped-def]
    from nodered_causal.errors import TapError
    from nodered_causal.nodered.client import NodeRedClient
    from nodered_causal.report.push import push_answer

    answer = _answer()
    httpserver.expect_oneshot_request(
        "/causal-tap/results",
        method="POST",
        json={"answer": answer.to_dict(), "report_html": "<p>r</p>"},
    ).respond_with_json({"id": "attr-1", "url": "causal-tap/results/attr-1"}, status=201)
    client = NodeRedClient(httpserver.url_for("/"))
    assert push_answer(client, answer, "<p>r</p>")["id"] == "attr-1"
    httpserver.expect_oneshot_request("/causal-tap/results").respond_with_json(
        {"error": "answer.ranking must be a list"}, status=400
    )
    with pytest.raises(TapError, match=r"refused it \(HTTP 400\): answer.ranking must be a list"):
        push_answer(client, answer)
    httpserver.expect_oneshot_request("/causal-tap/results").respond_with_data("", status=404)
    with pytest.raises(TapError, match="has no /causal-tap/results endpoint"):
        push_answer(client, answer)


def test_push_incident_posts_watchs_document_as_it_is(httpserver) -> None:  # type: ignore[no-untyped-def]
    from nodered_causal.errors import TapError
    from nodered_causal.nodered.client import NodeRedClient
    from nodered_causal.report import push_incident

    incident = {"id": "inc-1", "state": "open", "target": "t", "ranking": [], "blamed": []}
    httpserver.expect_oneshot_request(
        "/causal-tap/incidents", method="POST", json={**incident, "report_html": "<p>i</p>"}
    ).respond_with_json({"id": "inc-1", "created": True}, status=201)
    client = NodeRedClient(httpserver.url_for("/"))
    assert push_incident(client, incident, "<p>i</p>") == {"id": "inc-1", "created": True}
    httpserver.expect_oneshot_request("/causal-tap/incidents").respond_with_json(
        {"error": "answer.target must be the runtime id of a node (string)"}, status=400
    )
    with pytest.raises(
        TapError,
        match=r"^push incident inc-1 \(open\) to the editor: .* refused it \(HTTP 400\): answer",
    ):
        push_incident(client, incident)
    httpserver.expect_oneshot_request("/causal-tap/incidents").respond_with_data("", status=404)
    with pytest.raises(TapError, match="has no /causal-tap/incidents endpoint"):
        push_incident(client, incident)


def test_watch_pushes_an_incident_with_its_report_page(httpserver) -> None:  # type: ignore[no-untyped-def]
    import networkx as nx

    from nodered_causal.nodered.client import NodeRedClient
    from nodered_causal.watch.alerts import Alerts

    dag = nx.DiGraph([("calibrate", "sink")])
    for n in dag:
        dag.nodes[n]["type"] = "function"
    incident = {
        "id": "inc-2", "state": "open", "target": "sink", "signal": "value", "metric": "value",
        "changed_ns": 2_000_000_000, "blamed": ["calibrate"],
        "ranking": [{"node": "calibrate", "name": "calibrate", "score": 0.5, "low": 0.4,
                     "high": 0.6, "blamed": True}],
        "series": {"changed_ns": 2_000_000_000, "t_ns": [1_000_000_000, 3_000_000_000],
                   "values": [1.0, 2.0]},
    }  # fmt: skip
    seen: list[dict] = []  # type: ignore[type-arg]

    def keep(request):  # type: ignore[no-untyped-def]
        from werkzeug import Response

        seen.append(request.get_json())
        return Response('{"id": "inc-2"}', status=201, content_type="application/json")

    httpserver.expect_request("/causal-tap/incidents", method="POST").respond_with_handler(keep)
    alerts = Alerts(push=NodeRedClient(httpserver.url_for("/")))
    alerts.send(incident)  # no graph yet: the document alone
    alerts.graph = lambda: dag
    alerts.send({**incident, "state": "update"})
    assert alerts.sent == 2 and alerts.failures == 0
    assert "report_html" not in seen[0]
    page = seen[1]["report_html"]
    assert page.startswith("<!DOCTYPE html>") and "calibrate" in page and "sink" in page
