"""Hostile HTTP bodies and framing against a real HttpIngest and store (seeded hypothesis).

Every case is one request; after each: the answer is one the contract allows (never a 5xx), the
collector is healthy, and at the end nothing was logged as an error and every good record of an
accepted body is stored (none lost, none blocked behind a bad one). The case counts per class are
asserted: the suite cannot quietly shrink.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests

from nodered_causal.collector import HttpIngest, Store, Writer
from tests.collector_records import body, rec
from tests.hostile_ingest import (
    CLASSES,
    FRAMING_CLASSES,
    HttpTarget,
    run_classes,
    run_framings,
)

PER_CLASS = 60
FRAMINGS_PER_CLASS = 20


@pytest.fixture
def ingest(tmp_path: Path) -> HttpIngest:
    store = Store(tmp_path / "runs.db")
    store.start_run("r")
    ingest = HttpIngest(Writer(store, "r"), write_timeout=20).start()
    yield ingest
    ingest.shutdown()
    store.close()


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Errors and tracebacks our code logged (a debug line about a dropped connection is fine)."""
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or (r.exc_info and r.levelno > logging.DEBUG)
    ]


def test_hostile_http_bodies(ingest: HttpIngest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodered_causal")
    target = HttpTarget(ingest)
    try:
        run_classes(target.send, PER_CLASS)
    finally:
        target.close()
    assert target.tally.failures == []
    assert errors_logged(caplog) == []
    assert target.tally.lost(ingest.writer.store, "r") == []
    assert len(target.tally.good) > PER_CLASS  # good records really were mixed in
    assert target.tally.cases == dict.fromkeys(CLASSES, PER_CLASS)


def test_hostile_http_framing(ingest: HttpIngest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nodered_causal")
    tally = run_framings(ingest.address, FRAMINGS_PER_CLASS)
    assert tally.failures == []
    assert errors_logged(caplog) == []
    ok = requests.post(ingest.url, data=body([rec(1, tap="after")]), timeout=10)
    assert (ok.status_code, ok.json()) == (200, {"accepted": 1, "rejected": 0})
    assert tally.cases == dict.fromkeys(FRAMING_CLASSES, FRAMINGS_PER_CLASS)
