"""What-if on a real flow: predict from a recorded baseline, then verify live (inject, record)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.nodered.runtime import PLUGIN_DIR, LocalNodeRed, tap_settings

pytestmark = pytest.mark.integration

FLOW = Path(__file__).resolve().parents[2] / "flows" / "sensor-pipeline.json"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.conftest import run_cli_process

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = tmp_path_factory.mktemp("whatif") / "runs.db"
    settings = tap_settings(f"http://127.0.0.1:{port}", flushMs=100)
    with LocalNodeRed("4", flows=FLOW, plugins=[PLUGIN_DIR], settings=settings) as nr:
        proc = run_cli_process(
            "record", "--url", nr.url, "--http", f"127.0.0.1:{port}", "--run", "base",
            "--seconds", "10", "--store", str(store),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        yield {"url": nr.url, "port": port, "store": store}


# Both changes keep the flow in its linear regime. (Scaling read_sensor's humidity by 1.5 would
# push every message through the 'humid?' switch: the model, fitted on the baseline, cannot know
# that, and misses by >100 % -- a limitation of predicting outside the recorded range.)
@pytest.mark.parametrize(
    ("node", "change"), [("calibrate", "bias:2"), ("to_fahrenheit", "scale:1.5")]
)
def test_prediction_within_ten_percent_of_what_happens(
    recorded: dict[str, Any], node: str, change: str
) -> None:
    from tests.conftest import run_cli_process

    proc = run_cli_process(
        "whatif", "--store", str(recorded["store"]), "--run", "base", "--node", node,
        "--change", change, "--target", "comfort", "--verify", "--url", recorded["url"],
        "--http", f"127.0.0.1:{recorded['port']}", "--seconds", "8", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["change"] == change and out["target"] == "comfort"
    assert abs(out["observed_change"]) > 0.05 * abs(out["observed_before"])  # it did change
    assert out["relative_error"] < 0.10, out
