"""watch: a long-running Node-RED watcher: detect shifts of the flow's outputs, explain them,
alert (issue 13).

- :class:`Watcher` / :class:`WatchConfig` (``service.py``): the loop over the store's windows;
- :mod:`.detector`: river's Page-Hinkley on standardized windows, calibrated
  (:func:`calibrate`), ruptures for the change point;
- :class:`Incident` (``incidents.py``): open → update → closed, one JSON document per state;
- :class:`Alerts` (``alerts.py``): MQTT ``nodered-causal/<tap>/incidents`` (QoS 1, retained),
  webhook, the editor;
- :func:`attribute_range` (``query.py``): attribute a time range of a continuous recording;
- :func:`parse_time` / :func:`parse_duration`: ``-15m``, ISO 8601, ``24h``.
"""

from __future__ import annotations

from nodered_causal.watch.alerts import Alerts, incidents_topic
from nodered_causal.watch.detector import Calibration, SignalDetector, calibrate, change_point
from nodered_causal.watch.flows import default_targets, diff_flows
from nodered_causal.watch.incidents import Incident, next_state
from nodered_causal.watch.query import RangeAttribution, attribute_range, resolve_range
from nodered_causal.watch.service import WatchConfig, Watcher
from nodered_causal.watch.timeparse import format_ns, parse_duration, parse_time

__all__ = [
    "Alerts",
    "Calibration",
    "Incident",
    "RangeAttribution",
    "SignalDetector",
    "WatchConfig",
    "Watcher",
    "attribute_range",
    "calibrate",
    "change_point",
    "default_targets",
    "diff_flows",
    "format_ns",
    "incidents_topic",
    "next_state",
    "parse_duration",
    "parse_time",
    "resolve_range",
]
