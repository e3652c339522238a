"""The watch loop: windows of the targets' signals from the store → detectors → incidents.

:class:`Watcher` owns no thread and no socket: the caller (``nodered-causal watch``) runs the
collector that fills the store, calls :meth:`Watcher.step` a few times a second and
:meth:`Watcher.deployed` when the Admin API's ``rev`` changes. The store is the source of truth:
each target's reference, the detectors' recent windows, the windows read so far and every
incident are kept there (``watch_state``, ``incidents``), so a watch killed with SIGKILL and
restarted resumes where it was.

One step:

1. read the records of the windows that closed since the last step (a window closes ``lag_s``
   after its end: the tap's flush and the transport) and window them with
   :func:`nodered_causal.analysis.windowed` (the analysis's own windows);
2. windows in which the whole flow was silent (Node-RED restarting, a full redeploy) and the
   first window of a new tap boot are skipped: silence is not a change of the target;
3. per target and signal (each value leaf's mean, throughput, latency, errors) the detector
   (:mod:`.detector`) takes the window; when one fires, ruptures places the change point and
   every signal of that target freezes its reference;
4. once ``min_incident`` windows followed the change, :func:`nodered_causal.analysis.
   attribute_shift` compares the records before the change point (the reference period) with
   those after it. The incident opens if the signal moved by at least ``min_change_sd``
   reference sds since the change point and the target's distribution changed (its marginal
   test) or a node is blamed; otherwise the detection was not confirmed and the detectors start
   over (small sustained drifts, such as an inject node's rate on a loaded machine, are not
   incidents);
5. an open incident is re-attributed every ``update_every_s`` with the grown incident data
   (``update``; after every 3 updates the interval doubles, up to 8x) and closes when the
   signal's last ``close_windows`` windows are back within ``k`` reference sds of the reference
   mean.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nodered_causal.errors import NoderedCausalError
from nodered_causal.watch.detector import Calibration, SignalDetector, calibrate
from nodered_causal.watch.flows import default_targets, diff_flows
from nodered_causal.watch.incidents import Incident, deploy_evidence, ranking_of

__all__ = ["SIGNALS", "WatchConfig", "Watcher"]

logger = logging.getLogger(__name__)

#: The signals of a target besides its value leaves (``value:<leaf>``).
SIGNALS = ("throughput", "latency", "errors")
#: Latency changes below this (seconds) are not worth an incident (the reference sd's floor).
LATENCY_FLOOR_S = 0.001


@dataclass(frozen=True)
class WatchConfig:
    """How watch windows, detects, confirms and closes (see the module docstring)."""

    window_s: float = 0.5
    warmup: int = 40
    reference: int = 240
    holdback: int = 40
    k: float = 0.5
    alarms_per_day: float = 1.0
    lag_s: float = 1.5
    min_incident: int = 10
    update_every_s: float = 10.0
    close_windows: int = 20
    max_incident_s: float = 300.0
    max_reference_s: float = 120.0
    max_leaves: int = 3
    deploy_margin_s: float = 60.0
    retention_s: float | None = None
    save_every_s: float = 5.0
    alpha: float = 0.01
    min_change_sd: float = 1.0
    n_bootstrap: int = 30
    seed: int = 0

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.warmup < 4 or self.reference < self.warmup:
            raise ValueError("window_s must be > 0, warmup >= 4 and reference >= warmup")


@dataclass
class _Target:
    node: str
    leaves: list[str] | None = None
    signals: dict[str, SignalDetector] = field(default_factory=dict)
    candidate: dict[str, Any] | None = None
    incident: Incident | None = None
    next_update_ns: int = 0

    def freeze(self, changed_ns: int) -> None:
        for det in self.signals.values():
            det.accept_before(changed_ns)

    def resume(self) -> None:
        for det in self.signals.values():
            det.resume()


class Watcher:
    """Watch ``targets`` (default: the flow's outputs) of run ``run`` in ``store``."""

    def __init__(
        self,
        store: Any,
        run: str,
        *,
        dag: Mapping[str, Any],
        rev: str | None,
        flows: Sequence[Mapping[str, Any]] | None = None,
        targets: Iterable[str] | None = None,
        config: WatchConfig | None = None,
        publish: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.config = config or WatchConfig()
        self.publish = publish or (lambda doc: None)
        self.explicit_targets = list(targets) if targets else None
        self.targets: dict[str, _Target] = {}
        self.cursor_ns: int | None = None
        self.boots: set[tuple[str, str]] = set()
        self.flows: list[dict[str, Any]] | None = None
        self.flows_rev: str | None = None
        self.events: list[dict[str, Any]] = []
        self._last_save = 0.0
        self._last_prune = 0.0
        self._set_flow(dag, rev, flows)
        self._load()

    # -- the flow --------------------------------------------------------------------------------

    def _set_flow(
        self,
        dag: Mapping[str, Any],
        rev: str | None,
        flows: Sequence[Mapping[str, Any]] | None,
    ) -> None:
        from nodered_causal.analysis.graph import analysis_dag
        from nodered_causal.report.build import graph_names

        self.dag_data = dict(dag)
        self.rev = rev
        if flows is not None:
            self.flows = [_without_credentials(n) for n in flows]
            self.flows_rev = rev
        self.dag = analysis_dag(dag)
        self.names = graph_names(self.dag)
        wanted = self.explicit_targets or default_targets(dag)
        for node in wanted:
            self.targets.setdefault(node, _Target(node))
        for node in list(self.targets):
            if node not in wanted:
                del self.targets[node]

    @property
    def calibration(self) -> Calibration:
        signals = self.config.max_leaves + len(SIGNALS)
        return calibrate(
            k=self.config.k,
            window_s=self.config.window_s,
            signals=signals,
            alarms_per_day=self.config.alarms_per_day,
        )

    def _detector(self, signal: str) -> SignalDetector:
        cfg = self.config
        return SignalDetector(
            h=self.calibration.h,
            k=cfg.k,
            warmup=cfg.warmup,
            reference_size=cfg.reference,
            holdback=cfg.holdback,
            count=signal in ("throughput", "errors"),
            floor=LATENCY_FLOOR_S if signal == "latency" else 0.0,
        )

    def deployed(
        self, flows: Sequence[Mapping[str, Any]], rev: str | None, now_ns: int | None = None
    ) -> dict[str, list[str]] | None:
        """A deploy was seen (``rev`` changed): note what it changed, reload the graph, reset
        the references of changed targets. Returns the diff (None if nothing changed)."""
        from nodered_causal.collector.recording import snapshot_of
        from nodered_causal.flows import load_flow, to_causal_dag

        if self.flows is not None and rev == self.flows_rev:
            return None
        now = time.time_ns() if now_ns is None else now_ns
        flow = load_flow(list(flows))
        snap = snapshot_of(flow, rev, to_causal_dag(flow))
        diff: dict[str, list[str]] = {"changed": [], "added": [], "removed": []}
        if self.flows is not None:  # else the first sight of the flow, not a deploy
            diff = diff_flows(self.flows, flows)
            self.store.add_deploy(now, rev, self.flows_rev, diff)
            logger.info("deploy %s: changed %s", rev, ", ".join(diff["changed"]) or "nothing")
        self.flows_rev = rev
        self.store.start_run(self.run, resume=True, flow_rev=rev, dag=snap.dag)
        self._set_flow(snap.dag, rev, flows)
        for node in [*diff["changed"], *diff["added"]]:
            target = self.targets.get(node)
            if target is not None and target.incident is None:
                for det in target.signals.values():
                    det.reset()
                target.candidate = None
        self.store.put_state(self._key("flows"), {"rev": rev, "flows": self.flows})
        return diff

    # -- persistence -----------------------------------------------------------------------------

    def start_at(self, now_ns: int) -> None:
        """Begin with the first whole window after ``now_ns`` (the collector just started: the
        window it started in is partial), unless a cursor was resumed from the store."""
        if self.cursor_ns is None:
            window_ns = int(round(self.config.window_s * 1e9))
            self.cursor_ns = -(-now_ns // window_ns) * window_ns

    def _key(self, *parts: str) -> str:
        return "/".join(("watch", self.run, *parts))

    def _load(self) -> None:
        state = self.store.state(self._key(""))
        cursor = state.get(self._key("cursor"))
        if cursor:
            self.cursor_ns = int(cursor["cursor_ns"])
            self.boots = {(str(t), str(b)) for t, b in cursor.get("boots", [])}
        saved = state.get(self._key("flows"))
        if saved and saved.get("flows") is not None:  # a deploy while watch was down is a diff
            self.flows = saved["flows"]
            self.flows_rev = saved.get("rev")
        for node, target in self.targets.items():
            kept = state.get(self._key("target", node))
            if not kept:
                continue
            target.leaves = kept.get("leaves")
            for name, det_state in kept.get("signals", {}).items():
                det = self._detector(name)
                det.load_state(det_state)
                target.signals[name] = det
            target.candidate = kept.get("candidate")
            if target.candidate:
                target.freeze(int(target.candidate["changed_ns"]))
        for doc in self.store.incidents(state="open"):
            found = self.targets.get(str(doc["target"]))
            if found is None or doc.get("run", self.run) != self.run:
                continue
            target = found
            target.incident = Incident.from_doc(doc)
            target.candidate = None
            target.freeze(target.incident.changed_ns)
            logger.info("resumed open incident %s at %s", doc["id"], doc["target"])

    def save(self) -> None:
        """Keep the cursor, references and recent windows in the store."""
        self.store.put_state(
            self._key("cursor"),
            {"cursor_ns": self.cursor_ns, "boots": sorted(self.boots)},
        )
        for node, target in self.targets.items():
            self.store.put_state(
                self._key("target", node),
                {
                    "leaves": target.leaves,
                    "signals": {n: d.to_state() for n, d in target.signals.items()},
                    "candidate": target.candidate,
                },
            )
        self._last_save = time.monotonic()

    def incident_docs(self) -> list[dict[str, Any]]:
        return [t.incident.doc() for t in self.targets.values() if t.incident is not None]

    # -- one step --------------------------------------------------------------------------------

    def step(self, now_ns: int | None = None) -> list[dict[str, Any]]:
        """Process the windows closed by ``now_ns``; returns the incident documents published."""
        cfg = self.config
        now = time.time_ns() if now_ns is None else now_ns
        window_ns = int(round(cfg.window_s * 1e9))
        end = (now - int(cfg.lag_s * 1e9)) // window_ns * window_ns
        if self.cursor_ns is None:
            self.cursor_ns = end - window_ns
        self.events = []
        if end > self.cursor_ns:
            start = max(self.cursor_ns, end - 600 * window_ns)  # catch up at most 600 windows
            self._windows(start, end, window_ns, now)
            self.cursor_ns = end
        for target in self.targets.values():
            self._advance(target, end, now)
        if time.monotonic() - self._last_save >= cfg.save_every_s:
            self.save()
        if cfg.retention_s and time.monotonic() - self._last_prune >= 60:
            self._last_prune = time.monotonic()
            gone = self.store.prune_records(now - int(cfg.retention_s * 1e9), run=self.run)
            if gone:
                logger.info("retention: %d records older than %g s pruned", gone, cfg.retention_s)
        return self.events

    def _windows(self, start: int, end: int, window_ns: int, now: int) -> None:
        import numpy as np

        from nodered_causal.analysis import windowed
        from nodered_causal.analysis.datasets import value_fields

        cols = self.store.record_columns(self.run, since_ns=start, until_ns=end)
        n = (end - start) // window_ns
        ts = np.asarray(cols["ts_ns"], dtype=np.int64)
        if len(ts) == 0:
            return  # the whole flow was silent: not a change of any target
        index = (ts - start) // window_ns
        busy = np.bincount(index, minlength=n)[:n] > 0
        for tap, boot, i in zip(cols["tap"], cols["boot"], index, strict=True):
            if (tap, boot) not in self.boots:
                self.boots.add((tap, boot))
                if len(self.boots) > 1:  # a new boot of a tap (Node-RED restarted)
                    busy[i] = False
        missing = [t for t in self.targets.values() if t.leaves is None]
        if missing:
            leaves = value_fields(cols, self.config.max_leaves)
            for t in missing:
                if t.node in leaves or t.node in set(cols["src"]) | set(cols["dst"]):
                    t.leaves = [str(p) for p in leaves.get(t.node, [])]
        variables = {t.node: t.leaves for t in self.targets.values() if t.leaves}
        single = {node: leaves[0] for node, leaves in variables.items() if len(leaves) == 1}
        frame = windowed(
            cols, window_s=self.config.window_s, start_ns=start, empty="nan",
            variables=variables, field=single,
        )  # fmt: skip
        frame = frame.reindex(range(n))
        columns = set(frame.columns)
        for target in self.targets.values():
            series: dict[str, Any] = {}
            for leaf in target.leaves or []:
                col = target.node if len(target.leaves or []) == 1 else f"{target.node}::{leaf}"
                if ("value", col) in columns:
                    series[f"value:{leaf}"] = frame[("value", col)].to_numpy(dtype=float)
            for name in SIGNALS:
                if (name, target.node) in columns:
                    values = frame[(name, target.node)].to_numpy(dtype=float)
                else:
                    values = np.full(n, np.nan if name == "latency" else 0.0)
                if name != "latency":
                    values = np.nan_to_num(values, nan=0.0)
                series[name] = values
            for i in range(n):
                if not busy[i]:
                    continue
                t_ns = start + i * window_ns
                for name, values in series.items():
                    det = target.signals.get(name)
                    if det is None:
                        det = target.signals[name] = self._detector(name)
                    fired = det.feed(t_ns, float(values[i]))
                    if fired and target.candidate is None and target.incident is None:
                        self._detected(target, name, t_ns + window_ns, now)

    def _detected(self, target: _Target, signal: str, at_ns: int, now: int) -> None:
        det = target.signals[signal]
        changed = min(det.change_point(int(round(self.config.window_s * 1e9))), at_ns)
        target.candidate = {"signal": signal, "changed_ns": changed, "detected_ns": now}
        target.freeze(changed)
        logger.info(
            "%s: %s changed at %s (detected at window %s)", target.node, signal, changed, at_ns
        )

    # -- incidents -------------------------------------------------------------------------------

    def _advance(self, target: _Target, end: int, now: int) -> None:
        cfg = self.config
        window_ns = int(round(cfg.window_s * 1e9))
        if target.candidate is not None:
            changed = int(target.candidate["changed_ns"])
            if end - changed >= cfg.min_incident * window_ns:
                self._confirm(target, end, now)
            return
        incident = target.incident
        if incident is None:
            return
        det = target.signals.get(incident.signal)
        if det is not None and det.back_to_reference(incident.changed_ns, cfg.close_windows):
            evidence, _ = self._evidence(
                target, incident.signal, incident.changed_ns, end, now, attribute=False
            )
            self._emit(target, incident.close(now, **evidence))
            target.incident = None
            target.resume()
            return
        age = (end - incident.changed_ns) / 1e9
        if now >= target.next_update_ns and age <= cfg.max_incident_s + cfg.update_every_s:
            evidence, result = self._evidence(
                target, incident.signal, incident.changed_ns, end, now
            )
            if incident.blamed and (result is None or not result.blamed):
                # the growing incident data now holds the recovery too: keep the blame found
                for key in ("ranking", "blamed", "verdict"):
                    evidence.pop(key, None)
                evidence["notes"] = (
                    "the latest re-attribution blamed nothing (the target may be recovering); "
                    "the ranking is the last one that did",
                    *evidence.get("notes", ()),
                )
            self._emit(target, incident.update(now, **evidence))

    def _confirm(self, target: _Target, end: int, now: int) -> None:
        cand = target.candidate or {}
        signal, changed = str(cand["signal"]), int(cand["changed_ns"])
        evidence, result = self._evidence(target, signal, changed, end, now)
        size = evidence.get("size", {})
        material = abs(size.get("change_sd") or 0.0) >= self.config.min_change_sd
        moved = material and (
            result is None  # the analysis failed: the size alone decides
            or bool(result.blamed)
            or (result.target_p_value is not None and result.target_p_value <= self.config.alpha)
        )
        target.candidate = None
        if not moved:
            logger.info("%s: change of %s not confirmed by the analysis", target.node, signal)
            target.resume()
            return
        incident = Incident.new(
            target.node, signal, changed_ns=changed, detected_ns=int(cand["detected_ns"])
        ).with_evidence(**evidence)
        self._emit(target, incident)

    def _emit(self, target: _Target, incident: Incident) -> None:
        target.incident = incident if incident.open else None
        # every update_every_s at first, then less often (x2 after every 3 updates, up to x8)
        backoff = 2 ** min(incident.updates // 3, 3)
        target.next_update_ns = incident.updated_ns + int(
            self.config.update_every_s * backoff * 1e9
        )
        doc = incident.doc()
        doc["run"] = self.run
        self.store.put_incident(doc)
        self.publish(doc)
        self.events.append(doc)
        logger.info("incident %s %s: %s", doc["id"], doc["state"], doc["verdict"])
        self.save()

    def _evidence(
        self,
        target: _Target,
        signal: str,
        changed: int,
        end: int,
        now: int,
        *,
        attribute: bool = True,
    ) -> tuple[dict[str, Any], Any]:
        """Attribution, size, deploys and series of a change of ``signal`` at ``changed``; and
        the attribution itself (None if it failed). Without ``attribute`` (closing: the data
        after the change now holds the recovery too) the ranking stays the last update's."""
        import networkx as nx

        from nodered_causal.analysis import AttributionConfig, attribute_shift

        cfg = self.config
        det = target.signals[signal]
        metric = "value" if signal.startswith("value") else signal
        window_ns = int(round(cfg.window_s * 1e9))
        ref_windows = max(len(det.reference), cfg.warmup)
        ref_ns = int(min(ref_windows * window_ns, cfg.max_reference_s * 1e9))
        until = min(end, changed + int(cfg.max_incident_s * 1e9))
        notes: list[str] = []
        result = None
        tap = None
        try:
            if not attribute:
                raise _NoAttribution
            base = self.store.record_columns(self.run, since_ns=changed - ref_ns, until_ns=changed)
            inc = self.store.record_columns(self.run, since_ns=changed, until_ns=until)
            taps = Counter(inc["tap"])
            tap = taps.most_common(1)[0][0] if taps else None
            config = AttributionConfig(
                window_s=cfg.window_s, alpha=cfg.alpha, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed
            )
            result = attribute_shift(self.dag, base, inc, target.node, metric=metric, config=config)
        except _NoAttribution:
            pass
        except NoderedCausalError as exc:
            notes.append(f"attribution failed: {type(exc).__name__}: {exc}")
            logger.warning("%s: attribution failed: %s", target.node, exc)
        mean, sd = det.stats()
        after = [x for t, x in det.recent if t >= changed]
        after_mean = sum(after) / len(after) if after else None
        size = {
            "before": mean,
            "after": after_mean,
            "change": None if after_mean is None else after_mean - mean,
            "change_sd": None if after_mean is None else (after_mean - mean) / sd,
            "reference_sd": sd,
        }
        try:
            upstream = set(nx.ancestors(self.dag, target.node)) | {target.node}
        except nx.NetworkXError:
            upstream = {target.node}
        margin = int(cfg.deploy_margin_s * 1e9)
        deploys = deploy_evidence(
            self.store.deploys(since_ns=changed - margin, until_ns=now + 1), upstream, self.names
        )
        for d in deploys:
            if d["upstream"]:
                notes.append(
                    f"deploy {d['rev']} at {d['at']} changed upstream: "
                    + ", ".join(d["upstream_names"])
                )
        recent = list(det.recent)[-480:]
        evidence: dict[str, Any] = {
            "metric": metric,
            "target_name": self.names.get(target.node, target.node),
            "size": size,
            "flow_rev": self.rev,
            "deploys": tuple(deploys),
            "series": {
                "signal": signal,
                "t_ns": [t for t, _ in recent],
                "values": [x for _, x in recent],
                "changed_ns": changed,
            },
        }
        if tap is not None:
            evidence["tap"] = tap
        if not attribute:
            pass
        elif result is not None:
            evidence.update(
                ranking=tuple(ranking_of(result, self.names)),
                blamed=tuple(result.blamed),
                verdict=_verdict(result, self.names),
                notes=tuple([*notes, *result.notes[:5]]),
            )
        else:
            evidence["notes"] = tuple(notes)
            evidence["verdict"] = "no attribution"
        return evidence, result


class _NoAttribution(Exception):
    """Closing: evidence without a new attribution."""


def _verdict(result: Any, names: Mapping[str, str]) -> str:
    if not result.blamed:
        return "no significant change of a node upstream"
    return "blamed: " + ", ".join(names.get(n, n) for n in result.blamed)


def _without_credentials(node: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != "credentials"}
