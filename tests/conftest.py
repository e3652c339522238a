"""Shared fixtures.

- ``run_cli(*args, input=None)`` runs ``python -m nodered_causal`` in a subprocess (the real CLI, as
  a user runs it) with this checkout on PYTHONPATH, and returns the CompletedProcess.
- ``node_red_dir`` / ``node_red_examples``: Node-RED 4 installed from npm into the user cache
  (``nodered_causal.nodered.install``), so its bundled example flows are real fixtures.
- ``mqtt_prefix``: a unique topic prefix, since the machine's Mosquitto is shared by all tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# A test run started in the background (`make test &`, a CI job without job control) inherits
# SIGINT ignored, and so would every command the tests start: the Ctrl-C tests would then wait
# for an exit that never comes. Ctrl-C is what they test, so the run restores its default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
FLOWS = REPO / "flows"


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("NODERED_CAUSAL_") and key != "NODERED_CAUSAL_CACHE":
            monkeypatch.delenv(key)


def run_cli_process(
    *args: str, input: str | None = None, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m nodered_causal ARGS`` with this checkout first on PYTHONPATH."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nodered_causal", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli_process


@pytest.fixture(scope="session")
def node_red_dir() -> Path:
    from nodered_causal.nodered.install import ensure_node_red

    return ensure_node_red("4")


@pytest.fixture(scope="session")
def node_red_examples(node_red_dir: Path) -> list[Path]:
    root = node_red_dir / "node_modules" / "@node-red" / "nodes" / "examples"
    return sorted(root.rglob("*.json"))


@pytest.fixture
def mqtt_prefix() -> str:
    return f"nrc-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database for this test run, dropped at the end."""
    from tests.pg_helpers import scratch_database

    with scratch_database() as name:
        yield name


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A store URL on an empty schema of the test run's database."""
    from tests.pg_helpers import new_schema

    return new_schema(pg_database)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store goes, once per backend: a SQLite file and a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "runs.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_location: str) -> Iterator[Any]:
    """An open record store, once per backend (the same tests run on both)."""
    from nodered_causal.collector import open_store

    with open_store(store_location) as opened:
        yield opened
