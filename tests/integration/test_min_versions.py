"""The declared lower bounds are real: a fresh virtualenv gets every direct dependency at exactly
its lower bound from pyproject.toml (``>=X`` installed as ``==X``, like a lowest-direct
resolution), and the unit tests that exercise those libraries pass there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
#: unit test files that use networkx, numpy, scipy, pandas, dowhy, paho, websocket, tqdm, shtab,
#: river, ruptures
TESTS = [
    "tests/unit/test_flows_dag.py",
    "tests/unit/test_flows_golden.py",
    "tests/unit/test_analysis_datasets.py",
    "tests/unit/test_analysis_gcm.py",
    "tests/unit/test_whatif.py",
    "tests/unit/test_collector_ingest.py",
    "tests/unit/test_collector_store.py",
    "tests/unit/test_nodered_comms.py",
    "tests/unit/test_cli_options.py",
    "tests/unit/test_watch.py",  # river, ruptures
]
#: what the tests themselves need (not constrained)
TEST_TOOLS = ["pytest", "hypothesis", "pytest-httpserver", "pyyaml"]


def lower_bounds() -> dict[str, str]:
    """``requirement (with extras) -> its lower bound`` for every direct dependency."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = {}
    for dep in deps:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+(?:\[[a-z,]+\])?)>=([0-9][0-9.]*)", dep)
        assert match, f"{dep!r}: every dependency needs a plain >= lower bound"
        bounds[match.group(1)] = match.group(2)
    return bounds


def test_every_dependency_has_a_lower_bound() -> None:
    bounds = lower_bounds()
    assert {"numpy", "scipy", "networkx", "pandas", "dowhy"} <= set(bounds)
    assert tuple(map(int, bounds["networkx"].split("."))) >= (3, 4)  # node_link_data(edges=...)


def test_unit_tests_pass_at_the_lower_bounds(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pins = [f"{req.partition('[')[0]}=={v}" for req, v in lower_bounds().items()]
    (tmp_path / "lowest.txt").write_text("\n".join(pins) + "\n")
    install = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "-q",
        "--no-compile",
    ]
    proc = subprocess.run(
        [*install, "-c", str(tmp_path / "lowest.txt"), *lower_bounds(), *TEST_TOOLS],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    versions = subprocess.run(
        [str(python), "-c", "import numpy, scipy, pandas, networkx; "
         "print(numpy.__version__, scipy.__version__, pandas.__version__, networkx.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    bounds = lower_bounds()
    assert versions == [bounds["numpy"], bounds["scipy"], bounds["pandas"], bounds["networkx"]]
    proc = subprocess.run(
        # no bytecode was compiled at install, so dowhy's own invalid escapes ("\\s") warn on
        # import (a DeprecationWarning on 3.11, SyntaxWarning later); deprecations matter at the
        # newest versions, which the rest of the suite runs
        [str(python), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "-W", "ignore::DeprecationWarning", "-W", "ignore::SyntaxWarning", *TESTS],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:]
