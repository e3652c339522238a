"""The watch, incidents and time-range attribute commands at their edges (no Node-RED)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from nodered_causal.cli import main
from nodered_causal.collector import open_store
from nodered_causal.watch import Incident


def _run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    return main(list(argv)), out.getvalue(), err.getvalue()


def test_help_teaches(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run(monkeypatch, "watch", "--help")
    assert code == 0 and "nodered-causal watch --url" in out and "--alarms-per-day" in out
    code, out, _ = _run(monkeypatch, "incidents", "--help")
    assert code == 0 and "incidents report" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["watch", "--retention", "forever"], "argument --retention: must be a duration"),
        (["watch", "--alarms-per-day", "0"], "argument --alarms-per-day: must be"),
        (["attribute", "--target", "t", "--since", "yesterday"], "argument --since: must be"),
        (["incidents", "list", "--since", "-3x"], "argument --since: must be"),
        (["attribute", "--target", "t", "--until", "-1q"], "argument --until: must be"),
    ],
)
def test_bad_values_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    code, _, err = _run(monkeypatch, *argv)
    assert code == 2 and message in err, err


def test_incidents_from_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    with open_store(db) as store:
        doc = Incident.new("sink", "value:payload", changed_ns=10**18, detected_ns=10**18 + 1)
        store.put_incident({**doc.doc(), "verdict": "blamed: calibrate", "run": "watch"})
    code, out, _ = _run(monkeypatch, "incidents", "list", "--store", db)
    assert code == 0 and doc.id in out and "open" in out
    code, out, _ = _run(monkeypatch, "incidents", "show", doc.id[:15], "--store", db, "--json")
    assert code == 0 and json.loads(out)["id"] == doc.id
    code, _, err = _run(monkeypatch, "incidents", "show", "nope", "--store", db)
    assert code == 2 and err.startswith("StoreError: no incident 'nope'"), err
    code, _, err = _run(monkeypatch, "incidents", "report", doc.id, "--store", db)
    assert code == 2 and "StoreError: no run" in err and "Traceback" not in err


def test_attribute_time_range_without_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    open_store(db).close()
    code, _, err = _run(monkeypatch, "attribute", "--store", db, "--target", "t", "--since",
                        "-5m")  # fmt: skip
    assert code == 2 and "MissingDataError: no run in the store has a flow DAG" in err, err
    code, _, err = _run(monkeypatch, "attribute", "--store", db, "--target", "t", "--since",
                        "-5m", "--until", "-10m")  # fmt: skip
    assert code == 2 and "the incident range is empty" in err, err
