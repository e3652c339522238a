"""The bundled example flows (``flows/``, shipped in the package) and the node each one is best
explained at."""

from __future__ import annotations

from pathlib import Path

from nodered_causal.errors import ExperimentError
from nodered_causal.resources import flows_dir

__all__ = ["FLOWS_DIR", "MODULES", "TARGETS", "bundled_flow"]

#: The bundled flows (``flows/`` of the checkout, ``nodered_causal/package-data/flows`` in a wheel).
FLOWS_DIR = flows_dir()
#: flow file stem -> a good ``--target`` (flows/README.md says why).
TARGETS: dict[str, str] = {
    "sensor-pipeline": "comfort",
    "bottling-line": "bt_score",
    "order-fulfilment": "bi_invoice",
    "pump-telemetry-mqtt": "pm_efficiency",
    "payment-retry": "pa_settle",
    "line-merge": "lm_heater",
    "quality-routing": "qr_dose",
    "sensor-retry": "sr_volume",
    "quake-dashboard": "qk_chart",
}
#: flow file stem -> the contrib node modules it needs (``--install``).
MODULES: dict[str, tuple[str, ...]] = {"quake-dashboard": ("node-red-dashboard@3",)}


def bundled_flow(name: str) -> tuple[Path, str]:
    """``(path, target)`` of a bundled flow given by stem (``bottling-line``) or path."""
    path = Path(name)
    if not path.suffix:
        path = FLOWS_DIR / f"{name}.json"
    if not path.exists():
        known = ", ".join(sorted(TARGETS))
        raise ExperimentError(f"no flow {name!r}: give a flow file or one of {known}")
    return path, TARGETS.get(path.stem, "")
