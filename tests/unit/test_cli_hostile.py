"""The hostile-input suite of the command line (issue 12): every case in ``tests/hostile_cli.py``
must exit with its code (2 for bad input, before anything starts), name the option, variable or
file in stderr, print no traceback and no secret, and leave files it must not touch untouched.

Most cases run in-process through ``nodered_causal.cli.main(argv)``; a sample runs through the
real console script. Hypothesis throws random values at the option types and random JSON at the
flow importer (derandomized: the same examples on every run).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodered_causal.cli import _types as t
from nodered_causal.cli import main
from tests.hostile_cli import SECRET, Case, cases, option_table

TMP = Path(tempfile.mkdtemp(prefix="nrc-hostile-"))
CASES = cases(TMP)


@pytest.fixture(scope="module", autouse=True)
def _remove_tmp() -> object:
    yield None
    shutil.rmtree(TMP, ignore_errors=True)


def _digest(path: Path | None) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path and path.exists() else None


def run_case(case: Case, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """Run one case in-process; returns (exit code, stdout, stderr)."""
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    stdin = io.TextIOWrapper(io.BytesIO(case.stdin or b""), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.chdir(TMP)
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    code = main(case.argv)
    return code, out.getvalue(), err.getvalue()


def check(case: Case, code: int, out: str, err: str, log: str = "") -> None:
    assert "Traceback" not in err, err
    assert code == case.code, f"exit {code}, expected {case.code}: {err[-600:]}"
    assert case.names in err, err[-600:]
    for secret in case.secrets:
        assert secret not in out + err + log, f"secret printed: {(out + err + log)[-600:]}"


CLASSES = sorted({c.klass for c in CASES})


@pytest.mark.parametrize("klass", CLASSES)
def test_hostile_cases(
    klass: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every case of one class (one test per class keeps 500 cases fast); a failure lists the
    command lines that failed and why."""
    failed = []
    for case in [c for c in CASES if c.klass == klass]:
        with monkeypatch.context() as mp:
            before = _digest(case.untouched)
            caplog.clear()
            try:
                code, out, err = run_case(case, mp)
                check(case, code, out, err, caplog.text)
                if case.untouched is not None:
                    assert _digest(case.untouched) == before, f"{case.untouched} was modified"
                    assert not Path(f"{case.untouched}-wal").exists()
                if case.absent is not None:
                    assert not case.absent.exists(), f"{case.absent} was created"
            except AssertionError as exc:
                failed.append(f"{case.id}: {str(exc).splitlines()[0][:300]}")
    assert failed == []


def test_the_suite_is_big_enough_and_covers_every_class() -> None:
    assert len(CASES) >= 300
    classes = {c.klass for c in CASES}
    assert {
        "number out of range",
        "bad URL",
        "bad fault spec",
        "bad output path",
        "bad store",
        "secret in URL",
        "flow nested too deeply",
        "flow input too large",
    } <= classes


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / "nodered-causal"
    return [str(script)] if script.exists() else [sys.executable, "-m", "nodered_causal"]


SAMPLE = CASES[:: max(1, len(CASES) // 6)] + [c for c in CASES if c.klass == "secret in URL"][:2]


@pytest.mark.parametrize("case", SAMPLE, ids=[c.id for c in SAMPLE])
def test_hostile_case_through_the_console_script(case: Case) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("NODERED_CAUSAL_")}
    env["NODERED_CAUSAL_CACHE"] = os.environ.get("NODERED_CAUSAL_CACHE", "")
    env.update(case.env)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(
        [*_console_script(), *case.argv],
        input=case.stdin,
        capture_output=True,
        cwd=TMP,
        env=env,
        timeout=120,
        check=False,
    )
    check(case, proc.returncode, proc.stdout.decode(errors="replace"),
          proc.stderr.decode(errors="replace"))  # fmt: skip


def test_every_option_that_takes_a_value_is_checked_where_it_is_parsed() -> None:
    """The guard for options added later: a value option needs a shared type (or choices)."""
    free_text = {"--token", "--username", "--password", "--json"}
    unchecked = [
        f"{' '.join(path)} {action.option_strings or action.dest}"
        for path, action in option_table()
        if action.nargs != 0
        and action.type is None
        and action.choices is None
        and not set(action.option_strings) & free_text
        and action.dest not in ("command",)
    ]
    assert unchecked == []


# -- hypothesis: random values at every type, random JSON at the importer ----------------------

_TYPES = [t.SECONDS, t.WINDOW, t.TIMEOUT, t.INTERVAL, t.ALPHA, t.SEED, t.PORT, t.PORT_OR_ZERO,
          t.HTTP_URL, t.MQTT_URL, t.TAP_URL, t.HOST_PORT, t.TOPIC_FILTER, t.CLIENT_ID, t.NODE_ID,
          t.RUN_NAME, t.FIELD, t.FAULT, t.FAULT_OR_SD, t.FAULT_LIST, t.count()]  # fmt: skip


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.sampled_from(_TYPES), st.one_of(
    st.text(max_size=40),
    st.from_regex(r"-?[0-9]{0,6}(\.[0-9]{0,4})?(e-?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["nan", "inf", "-0", "1e-400", "mqtt://", "http://[::1", "bias:", ":"]),
))  # fmt: skip
def test_option_types_accept_or_say_why(check_type: object, text: str) -> None:
    try:
        value = check_type(text)  # type: ignore[operator]
    except argparse.ArgumentTypeError as exc:
        assert str(exc) and "got" in str(exc)
        return
    if isinstance(value, float):
        assert value == value and value not in (float("inf"), float("-inf"))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "type", "z", "x", "y", "wires", "links", "scope", "in", "out",
                         "env", "name", "g", "d", "disabled"]), kids, max_size=6),
    max_leaves=30,
)  # fmt: skip


@settings(derandomize=True, max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(_JSON)
def test_any_json_is_a_graph_or_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, data: object
) -> None:
    case = Case("random flow JSON", ["graph", "-", "--format", "json"], 0,
                stdin=json.dumps(data).encode())  # fmt: skip
    code, out, err = run_case(case, monkeypatch)
    assert "Traceback" not in err
    assert (code, bool(out)) == (0, True) or (code == 2 and err.startswith("FlowParseError: "))


def test_secret_in_the_output_of_a_value_error_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    case = Case("secret in URL", ["tap", "status", "--url", f"http://u:{SECRET}@h:70000"], 2,
                "argument --url")  # fmt: skip
    code, out, err = run_case(case, monkeypatch)
    check(case, code, out, err)
    assert "http://u:***@h:70000" in err
