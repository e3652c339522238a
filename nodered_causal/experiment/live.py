"""Run a campaign on a real, running flow: Node-RED + tap plugin -> collector -> store -> analysis.

:class:`LiveLab` implements :class:`~nodered_causal.experiment.campaign.Lab`: each run is a fresh
recording into the store (the collector listens only while recording), faults go through the tap
plugin's admin endpoint (:class:`~nodered_causal.faults.inject.FaultInjector`), and attribution is
:func:`nodered_causal.analysis.attribute_shift` on the flow's condensed analysis DAG.

:func:`run_experiment` is the one-call entry point of ``nodered-causal experiment``: with a flow
file and no URL it starts a throw-away local Node-RED with the plugin shipping over HTTP to the
collector, and removes it afterwards.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nodered_causal.collector.mqtt import MqttSettings
from nodered_causal.collector.recording import FlowSnapshot, snapshot_of
from nodered_causal.collector.service import Collector
from nodered_causal.collector.store import Store
from nodered_causal.errors import ExperimentError, UnknownNodeError
from nodered_causal.experiment.campaign import (
    PASS_THROUGH_TYPES,
    CampaignResult,
    CaseResult,
    LabAttribution,
    plan_cases,
    run_campaign,
)
from nodered_causal.experiment.plan import DEFAULT_SCENARIOS, SHIFT_FAULTS
from nodered_causal.experiment.survey import Survey, survey
from nodered_causal.faults.inject import FaultInjector
from nodered_causal.faults.spec import DEFAULT_FAULTS, Fault
from nodered_causal.nodered.client import NodeRedClient

__all__ = [
    "DEFAULT_FAULTS",
    "Experiment",
    "LiveLab",
    "candidates",
    "fault_field",
    "field_sd",
    "run_experiment",
]

logger = logging.getLogger(__name__)


class LiveLab:
    """A campaign lab on a live instance (see the module docstring).

    One collector receives the tap's records for the whole campaign into one store run
    (``stream``); each recording of the campaign is a time slice of it, cut by the tap's own
    timestamps. So there is never a gap in which the tap has nobody to ship to (a per-recording
    collector would leave the tap's HTTP retries or an MQTT broker to bridge those gaps).
    Use it as a context manager.
    """

    def __init__(
        self,
        client: NodeRedClient,
        store: Store,
        snapshot: FlowSnapshot,
        dag: Any,
        *,
        stream: str,
        http: tuple[str, int] | None = None,
        mqtt: MqttSettings | None = None,
        config: Any = None,
        settle: float = 0.5,
        target: str | None = None,
    ) -> None:
        self.client, self.store, self.snapshot, self.dag = client, store, snapshot, dag
        self.target = target
        self.injected_field: str | None = None
        self.config = config  # nodered_causal.analysis.AttributionConfig
        self.settle = settle
        self.injector = FaultInjector(client)
        self.slices: dict[str, tuple[int, int]] = {}
        self._last_run: str | None = None
        self._member_of = {
            m: str(n) for n, d in dag.nodes(data=True) for m in d.get("members") or ()
        }
        self.run = store.start_run(stream, flow_rev=snapshot.rev, dag=snapshot.dag, resume=True)
        self.collector = Collector(
            store, self.run, http=http, mqtt=mqtt, known_nodes=snapshot.node_ids
        )

    def __enter__(self) -> LiveLab:
        self.collector.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.collector.shutdown(keep_session=False)
        finally:
            self.store.end_run(self.run)

    def columns(self, run: str) -> dict[str, list[Any]]:
        since, until = self.slices[run]
        return self.store.record_columns(self.run, since_ns=since, until_ns=until)

    def record(self, run: str, seconds: float) -> None:
        logger.info("recording %s for %g s", run, seconds)
        start = time.time_ns()
        time.sleep(seconds)
        end = time.time_ns()
        time.sleep(self.settle)  # let the tap's last batch of the slice arrive
        self.collector.check()
        self.slices[run] = (start, end)
        n = len(self.columns(run)["seq"])
        if n == 0:
            raise ExperimentError(
                f"recording {run!r} got no records in {seconds:g} s: is the tap shipping to "
                "this collector?"
            )
        logger.info("recorded %s: %d records in %.1f s", run, n, seconds)
        self._last_run = run

    def inject(self, node: str, fault: Fault, *, seed: int) -> None:
        """Inject ``fault``; a value fault on the default field goes to the payload leaf of
        ``node`` that matters most for the target (:func:`fault_field`, on the run recorded
        last)."""
        last = self._last_run
        columns = self.columns(last) if fault.changes_field and last is not None else None
        if fault.field == "payload" and columns is not None:
            fault = replace(fault, field=fault_field(columns, node, self.target))
        if fault.unit == "sd":
            if columns is None:
                raise ExperimentError(f"fault {fault}: sd units need a recording first")
            fault = fault.resolved(field_sd(columns, node, fault.field))
        self.injected_field = fault.field
        self.injector.inject(node, fault, seed=seed)

    def restore(self) -> None:
        self.injector.restore()

    def aliases(self, node: str) -> list[str]:
        return [node, self._member_of[node]] if node in self._member_of else [node]

    def attribute(
        self, baseline: str, incident: str, target: str, *, metric: str, seed: int
    ) -> LabAttribution:
        from nodered_causal.analysis import AttributionConfig, attribute_shift

        config = replace(self.config or AttributionConfig(), seed=seed)
        attr = attribute_shift(
            self.dag,
            self.columns(baseline),
            self.columns(incident),
            self._member_of.get(target, target),
            metric=metric,
            config=config,
        )
        ranking = [
            (n, float(attr.scores.get(n, 0.0)), *attr.intervals.get(n, (None, None)))
            for n in attr.ranking
        ]
        changed = attr.target_p_value is not None and attr.target_p_value <= config.alpha
        return LabAttribution(
            ranking=ranking,
            blamed=list(attr.blamed),
            baselines=dict(attr.baselines),
            symptom=changed,
            baseline_blamed=dict(attr.baseline_blamed),
            seconds=attr.runtime_s,
        )


def fault_field(columns: Any, node: str, target: str | None, window_s: float = 0.5) -> str:
    """The payload leaf of ``node`` a value fault should change: of the node's leaves
    (:func:`~nodered_causal.analysis.datasets.value_fields`), the one whose per-window mean
    correlates most with one of ``target``'s leaves in ``columns`` (a recording) — a fault on a
    leaf nothing downstream reads (``payload.lines[0].qty`` for an invoice total) cannot show at
    the target. Falls back to the analysis' default leaf for the node, then ``payload``.
    """
    import numpy as np

    from nodered_causal.analysis import datasets

    leaves = datasets.value_fields(columns)
    mine = leaves.get(node, [])
    if len(mine) < 2 or target is None:
        return mine[0] if mine else datasets.choose_fields(columns).get(node, "payload")
    sep = datasets.VAR_SEP
    frame = datasets.metric_frame(
        datasets.windowed(
            columns,
            window_s=window_s,
            variables={node: mine, target: leaves.get(target, [])},
            empty="nan",
        ),
        "value",
    )
    theirs = [c for c in frame.columns if c.startswith(f"{target}{sep}")] or [target]
    best, best_r = mine[0], -1.0
    for leaf in mine:
        x = frame.get(f"{node}{sep}{leaf}")
        if x is None:
            continue
        for col in theirs:
            pair = frame[[col]].assign(x=x.to_numpy()).dropna().to_numpy(dtype=float)
            if len(pair) < 3 or min(np.std(pair, axis=0)) == 0:
                continue
            r = abs(float(np.corrcoef(pair[:, 0], pair[:, 1])[0, 1]))
            if r > best_r:
                best, best_r = leaf, r
    return best


def field_sd(columns: Any, node: str, leaf: str) -> float:
    """Standard deviation of ``leaf`` over the messages ``node`` sent in ``columns``; 1.0 when
    it has none or they do not vary (a fault in sd units then becomes one in the field's units)."""
    import numpy as np

    src = np.asarray(columns.get("src", []), dtype=object)
    values = np.asarray(
        [np.nan if v is None else v for v in columns.get(leaf, [None] * len(src))], dtype=float
    )
    mine = values[(src == node) & ~np.isnan(values)] if len(values) == len(src) else values[:0]
    sd = float(np.std(mine)) if len(mine) >= 2 else 0.0
    if not sd > 0:
        logger.warning("%s: %s does not vary in the baseline; 1 sd taken as 1.0", node, leaf)
        return 1.0
    return sd


def candidates(runtime_dag: Any, target: str) -> list[tuple[str, str, bool]]:
    """``(node, type, is_source)`` for every ancestor of ``target`` in the runtime graph.

    A source is where data enters: a node whose inputs (if any) are only ``inject`` triggers,
    e.g. the function that reads a sensor on every tick; data shifts are injected there.
    """
    import networkx as nx

    if target not in runtime_dag:
        raise UnknownNodeError(f"target {target!r} is not a node of the flow", node_id=target)

    def source(n: Any) -> bool:
        preds = list(runtime_dag.predecessors(n))
        return all(runtime_dag.nodes[p].get("type") == "inject" for p in preds)

    return [
        (str(n), str(runtime_dag.nodes[n].get("type", "")), source(n))
        for n in sorted(nx.ancestors(runtime_dag, target))
    ]


def _irrelevant_choices(found: Survey | None, runtime: Any, analysis: Any) -> list[tuple[str, str]]:
    """The survey's irrelevant leaves, those of data nodes first: an inject's timestamp that
    nobody reads is irrelevant too, but a trivial test (the analysis leaves clocks out). Never
    a node inside a cycle: the analysis sees a cycle as one node, whose change it cannot split."""
    if found is None:
        return []
    looped = {str(m) for _, d in analysis.nodes(data=True) for m in d.get("members") or ()}
    usable = [p for p in found.irrelevant if p[0] not in looped]
    data = [p for p in usable if runtime.nodes[p[0]].get("type") != "inject"]
    return data or usable


@dataclass(frozen=True)
class Experiment:
    """What ``run_experiment`` returns: the scored campaign, the graph it ran on, and the
    survey that chose where to fault (``None`` when no survey was recorded)."""

    result: CampaignResult
    dag: Any  # runtime graph, for drawing
    flow: str
    survey: Survey | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _instance(
    flow_path: str | None,
    url: str | None,
    client: NodeRedClient | None,
    version: str,
    port: int,
    *,
    modules: Sequence[str] = (),
    seed: int = 1,
) -> Iterator[NodeRedClient]:
    if client is not None:
        yield client
        return
    if url is not None:
        with NodeRedClient(url) as c:
            yield c
        return
    if flow_path is None:
        raise ExperimentError("give a flow file or --url of a running Node-RED")
    from nodered_causal.experiment.fixtures import flow_fixtures
    from nodered_causal.nodered.runtime import PLUGIN_DIR, LocalNodeRed, tap_settings

    settings = tap_settings(f"http://127.0.0.1:{port}", flushMs=100)
    with (
        flow_fixtures(flow_path, seed=seed) as env,
        LocalNodeRed(
            version,
            flows=flow_path,
            plugins=[PLUGIN_DIR],
            settings=settings,
            env=env,
            modules=modules,
        ) as nr,
    ):
        yield nr.client


def run_experiment(
    *,
    target: str,
    store_path: str | Path,
    flow_path: str | None = None,
    url: str | None = None,
    client: NodeRedClient | None = None,
    mqtt: MqttSettings | None = None,
    http: tuple[str, int] | None = None,
    n_cases: int = 20,
    faults: Sequence[str] = DEFAULT_FAULTS,
    n_no_fault: int = 10,
    seconds: float = 20.0,
    seed: int = 1,
    field: str = "payload",
    window_s: float = 0.5,
    version: str = "4",
    nodes: Sequence[str] | None = None,
    state_path: str | Path | None = None,
    progress: Callable[[int, int, CaseResult], None] | None = None,
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    shift_faults: Sequence[str] = SHIFT_FAULTS,
    metric: str | None = "all",
    survey_first: bool = True,
    config: Any = None,
    modules: Sequence[str] = (),
    stop_at: float | None = None,
) -> Experiment:
    """Plan and run a campaign on ``flow_path`` (a local Node-RED is started) or at ``url``.

    ``nodes`` restricts the nodes faulted (default: every ancestor of ``target``). With
    ``survey_first`` a fault-free recording first finds the ancestors that carry traffic toward
    the target (only those are faulted) and the irrelevant leaves (:mod:`.survey`).
    ``config``: the :class:`~nodered_causal.analysis.AttributionConfig` (window and field set
    from ``window_s``/``field``). ``metric``: what every case analyses (``all`` signals, one of
    them, or ``per-fault``: the one its fault kind shows in; ``None`` is ``all``). ``modules``
    are npm specs of contrib nodes the local Node-RED gets (``node-red-dashboard@3``); the
    fixtures a bundled flow needs (:func:`~nodered_causal.experiment.fixtures.flow_fixtures`)
    run beside it. ``stop_at``: no case starts after this ``time.time()`` (see
    :func:`~nodered_causal.experiment.campaign.run_campaign`).
    """

    import networkx as nx

    from nodered_causal.analysis import AttributionConfig
    from nodered_causal.flows import load_flow, to_causal_dag

    port = http[1] if http else _free_port()
    if flow_path is not None and url is None and client is None and mqtt is None:
        http = ("127.0.0.1", port)
    instance = _instance(flow_path, url, client, version, port, modules=modules, seed=seed)
    with instance as nr_client, Store(store_path) as store:
        flows, rev = nr_client.get_flows()
        flow = load_flow(flows)
        runtime = to_causal_dag(flow)
        analysis = to_causal_dag(flow, condensed=True)
        pool = candidates(runtime, target)
        if nodes:
            pool = [c for c in pool if c[0] in set(nodes)]
        snapshot = snapshot_of(flow, rev, runtime)
        config = replace(
            config or AttributionConfig(),
            window_s=window_s,
            field=None if field == "payload" else field,
        )
        stream = f"experiment-{target}-seed{seed}"
        with LiveLab(
            nr_client, store, snapshot, analysis, stream=stream, http=http, mqtt=mqtt,
            config=config, target=target,
        ) as lab:  # fmt: skip
            lab.restore()  # a clean start: no fault left over from an earlier crash
            found = None
            saved = Path(f"{state_path}.survey.json") if state_path is not None else None
            if survey_first and saved is not None and saved.exists():
                found = Survey.from_json(json.loads(saved.read_text()))  # resuming: same plan
            elif survey_first:
                lab.record("survey", seconds)
                found = survey(
                    lab.columns("survey"), runtime, target, pass_through=PASS_THROUGH_TYPES
                )
                if saved is not None:
                    from nodered_causal.report.write import write_atomic

                    write_atomic(saved, json.dumps(found.to_json(), indent=1))
            if found is not None:
                busy = [c for c in pool if c[0] in set(found.active)]
                pool = busy or pool
                logger.info(
                    "survey: %d active ancestors, idle: %s, irrelevant leaves: %s",
                    len(found.active),
                    ", ".join(found.idle) or "none",
                    ", ".join(f"{n}.{leaf}" for n, leaf in found.irrelevant) or "none",
                )
            plan = plan_cases(
                pool, n_cases=n_cases, faults=faults,
                n_no_fault=n_no_fault, seed=seed, field=field,
                roots=[n for n, *_ in pool if runtime.in_degree(n) == 0],
                scenarios=scenarios, shift_faults=shift_faults, metric=metric or "all",
                irrelevant=_irrelevant_choices(found, runtime, analysis),
                ancestors={n: set(nx.ancestors(runtime, n)) for n, *_ in pool},
            )  # fmt: skip
            result = run_campaign(
                lab, plan, target=target, seconds=seconds, state_path=state_path,
                progress=progress, stop_at=stop_at,
            )  # fmt: skip
    return Experiment(
        result=result, dag=runtime, flow=flow_path or url or nr_client.url, survey=found
    )
