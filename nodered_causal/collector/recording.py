"""One named recording: note the flow (rev + DAG), collect for N seconds, report completeness.

:func:`flow_snapshot` reads the deployed flow of a running Node-RED and builds the importer's
runtime DAG; :func:`record` runs a :class:`~nodered_causal.collector.service.Collector` for a
fixed time into a new run and returns a :class:`Recording` with what arrived and what was lost.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from nodered_causal.collector.completeness import Completeness
from nodered_causal.collector.mqtt import MqttSettings
from nodered_causal.collector.service import Collector
from nodered_causal.collector.store import RecordStore, Run
from nodered_causal.collector.writer import IngestCounts

__all__ = ["FlowSnapshot", "Recording", "flow_snapshot", "record", "snapshot_of", "summarize"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowSnapshot:
    """The deployed flow a run is recorded against: its ``rev`` and runtime DAG (node-link)."""

    rev: str | None
    dag: dict[str, Any]
    node_ids: frozenset[str]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recording:
    """A finished recording: the run, stored counts per kind, completeness per tap stream."""

    run: Run
    counts: Mapping[str, int]
    completeness: list[Completeness]
    ingest: IngestCounts
    drained: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(c.lost for c in self.completeness)

    @property
    def ok(self) -> bool:
        """Records arrived, none lost, no tap failures, everything received was stored."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.as_dict(),
            "counts": dict(self.counts),
            "ingest": self.ingest.__dict__,
            "completeness": [c.as_dict() for c in self.completeness],
            "lost": self.lost,
            "ok": self.ok,
            "problems": self.problems,
        }


def flow_snapshot(
    url: str,
    *,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> FlowSnapshot:
    """Read the deployed flows of the Node-RED at ``url`` and build the runtime causal DAG."""
    from nodered_causal.flows import (  # type: ignore[attr-defined, unused-ignore]
        load_flow,
        to_causal_dag,
    )
    from nodered_causal.nodered import NodeRedClient

    with NodeRedClient(url, token=token, username=username, password=password) as client:
        flows, rev = client.get_flows()
    flow = load_flow(flows)
    return snapshot_of(flow, rev, to_causal_dag(flow))


def snapshot_of(flow: Any, rev: str | None, dag: Any) -> FlowSnapshot:
    """The snapshot of an already loaded ``flow`` (the importer's IR) and its runtime ``dag``."""
    from nodered_causal.flows.export import (  # type: ignore[import-not-found, unused-ignore]
        to_json,
    )

    return FlowSnapshot(
        rev=rev,
        dag=json.loads(to_json(dag)),
        node_ids=frozenset(str(n) for n in dag.nodes),
        warnings=tuple(getattr(w, "message", str(w)) for w in flow.warnings),
    )


def record(
    store: RecordStore,
    name: str,
    *,
    seconds: float,
    mqtt: MqttSettings | None = None,
    http: tuple[str, int] | None = None,
    snapshot: FlowSnapshot | None = None,
    known_nodes: Collection[str] | None = None,
    grace: float = 2.0,
    progress: Callable[[float, IngestCounts], None] | None = None,
    progress_every: float = 1.0,
    on_started: Callable[[Collector], None] | None = None,
) -> Recording:
    """Record run ``name`` for ``seconds`` (plus ``grace`` for batches still in flight).

    With a ``snapshot``, the run notes its rev and DAG, and records naming nodes outside the DAG
    are rejected (``known_nodes`` overrides the node set). ``progress(elapsed, counts)`` is called
    about every ``progress_every`` seconds; ``on_started`` once receiving (e.g. to start traffic).
    The MQTT session is discarded at the end (the run is over).
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, not {seconds}")
    run = store.start_run(
        name,
        flow_rev=snapshot.rev if snapshot else None,
        dag=snapshot.dag if snapshot else None,
    )
    nodes = known_nodes if known_nodes is not None else (snapshot.node_ids if snapshot else None)
    collector = Collector(store, run, mqtt=mqtt, http=http, known_nodes=nodes).start()
    drained = False
    try:
        if on_started:
            on_started(collector)
        start = time.monotonic()
        end = start + seconds + grace
        while (now := time.monotonic()) < end:
            time.sleep(min(progress_every, end - now))
            collector.check()
            if progress:
                progress(time.monotonic() - start, collector.counts())
    finally:
        drained = collector.shutdown(keep_session=False)
        ended = collector.end_run()
    collector.check()  # the writer may have stopped while draining
    assert ended is not None
    return summarize(store, ended, collector.counts(), drained=drained)


def summarize(
    store: RecordStore, run: Run, ingest: IngestCounts, *, drained: bool = True
) -> Recording:
    """The :class:`Recording` report of a stored run."""
    counts = store.counts(run)
    report = store.completeness(run)
    problems: list[str] = []
    if not drained:
        problems.append("the collector stopped before everything received was stored")
    if not report:
        problems.append("no records arrived (is the tap running and shipping to this collector?)")
    for c in report:
        where = f"tap {c.tap!r} boot {c.boot}"
        if c.gaps:
            problems.append(
                f"{where}: {c.gaps} records missing (seq gaps), {c.dropped} dropped by the tap, "
                f"{c.transport_loss} lost in transport"
            )
        elif c.dropped:
            problems.append(f"{where}: the tap dropped {c.dropped} records")
        if c.failed:
            problems.append(f"{where}: the tap failed {c.failed} times")
    return Recording(run, counts, report, ingest, drained, problems)
