"""``nodered-causal attribute`` / ``explain`` against a real Store holding synthetic runs."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from nodered_causal.analysis import datasets, synthetic
from nodered_causal.collector import Store
from tests.unit.analysis_support import flow_dag


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dag = flow_dag()
    path = tmp_path_factory.mktemp("store") / "runs.db"
    runs = {
        "base": synthetic.simulate_records(dag, n_windows=120, seed=1),
        "same": synthetic.simulate_records(dag, n_windows=120, seed=2),
        "inc": synthetic.simulate_records(
            dag, n_windows=120, seed=3, fault=synthetic.Fault("calibrate", "bias", 0.5)
        ),
        "nodag": synthetic.simulate_records(dag, n_windows=5, seed=4),
    }
    with Store(path) as st:
        for name, columns in runs.items():
            graph = None if name == "nodag" else nx.node_link_data(dag, edges="edges")
            st.start_run(name, dag=graph, start_ns=columns["ts_ns"][0])
            st.insert(name, synthetic.to_records(columns))
            st.end_run(name)
    return path


def test_attribute_names_the_culprit(run_cli, store: Path) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("attribute", "--store", str(store), "--baseline", "base", "--incident", "inc",
                   "--target", "sink")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].endswith("blamed: calibrate (function)")
    assert lines[3].split()[:2] == ["rank", "node"]
    assert lines[4].split()[:2] == ["1", "calibrate"] and "***" in lines[4]
    assert "baseline most_upstream: calibrate" in proc.stdout


def test_attribute_json_and_no_change_exit_code(run_cli, store: Path) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("attribute", "--store", str(store), "--baseline", "base", "--incident", "same",
                   "--target", "sink", "--json")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["verdict"] == "no significant change" and data["blamed"] == []
    sizes = data["dataset_sizes"]  # 0.5 s windows; every node's signals are variables
    assert (sizes["baseline"], sizes["incident"], sizes["nodes"]) == (240, 240, 7)
    assert sizes["variables"] > sizes["nodes"]


def test_attribute_bad_input(run_cli, store: Path) -> None:  # type: ignore[no-untyped-def]
    base = ("attribute", "--store", str(store), "--baseline", "base")
    proc = run_cli(*base, "--incident", "nope", "--target", "sink")
    assert proc.returncode == 2 and proc.stderr.startswith("StoreError:")
    proc = run_cli(*base, "--incident", "inc", "--target", "nowhere")
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == "UnknownNodeError: target node 'nowhere' is not in the flow's graph"
    )
    proc = run_cli("attribute", "--store", str(store), "--baseline", "nodag", "--incident", "nodag",
                   "--target", "sink")  # fmt: skip
    assert proc.returncode == 2 and "have no flow DAG stored" in proc.stderr


def test_explain_one_message(run_cli, store: Path) -> None:  # type: ignore[no-untyped-def]
    with Store(store) as st:
        messages = datasets.lineage(st.record_columns("inc"))
    trace = int(messages.dropna(subset=["sink"]).index.get_level_values("trace")[0])
    proc = run_cli("explain", "--store", str(store), "--run", "inc", "--message", str(trace),
                   "--target", "sink", "--baseline", "base", "--json")  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)
    assert data["method"] == "anomaly" and data["dataset_sizes"]["anomalous"] == 1
    assert data["ranking"][0] in data["scores"]
    proc = run_cli("explain", "--store", str(store), "--run", "inc", "--message", "999999999",
                   "--target", "sink")  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == "MissingDataError: run 'inc' has no message with trace 999999999"


def test_help_has_examples(run_cli) -> None:  # type: ignore[no-untyped-def]
    for command in ("attribute", "explain"):
        proc = run_cli(command, "--help")
        assert proc.returncode == 0 and "examples:" in proc.stdout


def test_attribute_report_is_for_people(run_cli, store: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "why.html"
    proc = run_cli("attribute", "--store", str(store), "--baseline", "base", "--incident", "inc",
                   "--target", "sink", "--report", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"report: {out}, {out.with_suffix('.svg')}" in proc.stderr
    page = out.read_text()
    assert "<h1>Why did “dashboard” change?</h1>" in page
    assert "“calibrate” explains" in page
    assert 'data-id="calibrate" data-blamed="true"' in page
    assert (
        page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
    )  # target, culprit
    assert "run “base” (120 s) with run “inc” (120 s)" in page


def test_explain_report_marks_the_message(run_cli, store: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with Store(store) as st:
        messages = datasets.lineage(st.record_columns("inc"))
    trace = int(messages.dropna(subset=["sink"]).index.get_level_values("trace")[3])
    out = tmp_path / "msg.svg"
    proc = run_cli("explain", "--store", str(store), "--run", "inc", "--message", str(trace),
                   "--target", "sink", "--report", str(out))  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert out.read_text().startswith("<svg") and not out.with_suffix(".html").exists()
    html_out = tmp_path / "msg.html"
    proc = run_cli("explain", "--store", str(store), "--run", "inc", "--message", str(trace),
                   "--target", "sink", "--report", str(html_out))  # fmt: skip
    page = html_out.read_text()
    assert f"Why was the value of message {trace} at “dashboard” unusual?" in page
    assert "<circle" in page  # the message, marked among the run's others
