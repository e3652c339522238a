"""``nodered-causal graph`` as a user runs it (subprocess): formats, stdin, exit codes, -o."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "flows"
REPO = Path(__file__).resolve().parent.parent.parent
MISSING = str(FIXTURES / "missing_target.json")
BASIC = str(FIXTURES / "basic_tabs.json")
needs_graphviz = pytest.mark.skipif(shutil.which("neato") is None, reason="graphviz not installed")


def test_text_is_the_default(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("graph", BASIC)
    assert proc.returncode == 0, proc.stderr
    assert "edges (7):" in proc.stdout
    assert "  sw:0,1 -> hi  wire" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("flag", [["--json"], ["--format", "json"], ["-f", "json"]])
def test_json(run_cli, flag: list[str]) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("graph", str(FIXTURES / "subflow_basic.json"), *flag)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {(e["source"], e["target"]) for e in data["edges"]} >= {
        ("i1", "i1-s_a"),
        ("i1-s_b", "dbg1"),
    }


def test_condensed_and_kinds(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("graph", str(FIXTURES / "cycles.json"), "--condensed", "--json")
    data = json.loads(proc.stdout)
    assert [n["members"] for n in data["nodes"] if "members" in n] == [["b", "c", "w"]]
    proc = run_cli("graph", str(FIXTURES / "catch_scopes.json"), "--kinds", "wire,link", "--json")
    assert json.loads(proc.stdout)["edges"] == []
    proc = run_cli("graph", BASIC, "--kinds", "wire,cable")
    assert proc.returncode == 2
    assert "argument --kinds: is unknown cable: pick from wire," in proc.stderr


def test_dot_and_graphml(run_cli) -> None:  # type: ignore[no-untyped-def]
    dot = run_cli("graph", BASIC, "--format", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith("digraph flow {")
    assert '"inj" -> "sw";' in dot.stdout
    graphml = run_cli("graph", BASIC, "--format", "graphml")
    assert graphml.returncode == 0 and "<graphml" in graphml.stdout


def test_stdin(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("graph", "-", "--json", input=Path(BASIC).read_text())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["graph"]["source"] == "<stdin>"


def test_bad_input_exit_2(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("graph", "-", input="[{")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "FlowParseError: <stdin> is not JSON: Expecting property name enclosed in double quotes "
        "at line 1, column 3"
    )
    assert "Traceback" not in proc.stderr
    proc = run_cli("graph", "/nonexistent/flows.json")
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        "FlowParseError: /nonexistent/flows.json does not exist",
    )


def test_usage_errors(run_cli) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("graph").returncode == 2
    assert run_cli("graph", BASIC, "--url", "http://127.0.0.1:9").returncode == 2
    assert run_cli("graph", BASIC, "--format", "pdf").returncode == 2
    assert run_cli("graph", BASIC, "--json", "--format", "dot").returncode == 2


def test_warnings_go_to_stderr_and_strict_fails(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli("graph", MISSING, "--json")
    assert proc.returncode == 0
    json.loads(proc.stdout)  # stdout stays machine-readable
    lines = proc.stderr.splitlines()
    assert len(lines) == 4
    assert lines[0] == (
        "warning: wire from 'a' (inject, tab 'Main') port 0 targets unknown node 'gone' in "
        + MISSING
    )
    strict = run_cli("graph", MISSING, "--strict")
    assert strict.returncode == 2
    assert strict.stdout == ""
    assert strict.stderr.strip() == "UnknownWireTargetError: " + lines[0].removeprefix("warning: ")


def test_output_is_written_atomically(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sub" / "graph.json"
    missing = run_cli("graph", BASIC, "--json", "-o", str(out))  # no directory is created
    assert missing.returncode == 2 and not out.parent.exists()
    assert f"argument -o/--output: directory '{out.parent}' does not exist" in missing.stderr
    out.parent.mkdir()
    proc = run_cli("graph", BASIC, "--json", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(out.read_text())["directed"] is True
    out.write_text("previous")
    failed = run_cli("graph", MISSING, "--strict", "-o", str(out))
    assert failed.returncode == 2
    assert out.read_text() == "previous"  # never half-written, never clobbered on failure
    assert sorted(p.name for p in out.parent.iterdir()) == ["graph.json"]


@needs_graphviz
def test_png_and_svg(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    png = tmp_path / "g.png"
    proc = run_cli(
        "graph", str(FIXTURES / "subflow_nested.json"), "--format", "png", "-o", str(png)
    )
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = run_cli("graph", BASIC, "--format", "svg")
    assert svg.returncode == 0 and "<svg" in svg.stdout


def test_png_without_graphviz_is_a_clear_error(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "g.png"
    proc = run_cli("graph", BASIC, "--format", "png", "-o", str(out), env={"PATH": str(empty)})
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"ReportError: cannot write {out}: graphviz is not installed (apt-get install graphviz)"
    )
    assert not out.exists()


def test_url_reads_the_deployed_flows(run_cli, httpserver: HTTPServer) -> None:  # type: ignore[no-untyped-def]
    flows = json.loads(Path(BASIC).read_text())
    httpserver.expect_request("/flows", headers={"Node-RED-API-Version": "v2"}).respond_with_json(
        {"flows": flows, "rev": "r42"}
    )
    proc = run_cli("graph", "--url", httpserver.url_for("/").rstrip("/"), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["graph"]["rev"] == "r42"
    assert len(data["edges"]) == 7  # sw -> hi on two ports is one edge


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from nodered_causal.cli import main\n"
        "try:\n    main(['graph', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('dowhy', 'pandas', 'networkx', 'numpy') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert "examples:" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"
