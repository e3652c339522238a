"""``nodered-causal watch``: record a running Node-RED continuously, detect, explain, alert."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any

from nodered_causal import config
from nodered_causal.cli import _types as t
from nodered_causal.cli._common import add_nodered_args, add_window_arg, client_from_args
from nodered_causal.cli.collect import add_collector_args, collector_from_args, store_where

__all__ = ["register", "run"]

EPILOG = """\
watch = collect + detect + attribute + alert, in one long-running process (Ctrl-C or SIGTERM
stops it cleanly, exit 0). Everything it knows lives in the store (--store): the records (run
--run, default 'watch'), each target's reference, the detectors' recent windows and every
incident, so a watch that was killed resumes its open incidents when it starts again.

Targets (--target, repeatable; default: the flow's outputs, i.e. the nodes that are not debug
nodes and whose wires lead nowhere or only into debug nodes). For each target watch follows one
signal per window (--window seconds): the mean of each numeric payload leaf (up to 3), the
throughput, the mean latency and the error count. After --warmup windows of reference a
Page-Hinkley detector (river) runs on each signal, standardized by the rolling reference (the
last 240 windows that were not part of a change). Its threshold is calibrated for at most
--alarms-per-day false alarms per target (Siegmund's bound for a CUSUM, with a 4x margin and the
reference's autocorrelation; see nodered_causal/watch/detector.py and README 'Watch').

When a detector fires, ruptures places the change point; once --min-incident windows followed
it, the records before and after are attributed (the same analysis as 'attribute') and, if the
target's distribution did change, an incident opens: id, target, signal, size and time of the
change, ranking with intervals, blamed nodes, flow rev and the deploys around it (each with the
nodes it changed). It is updated as evidence grows and closed when the target is back at its
reference. Every open / update / closed goes to MQTT 'nodered-causal/<tap>/incidents' (QoS 1, the
last retained; the broker of --mqtt, or --alerts), to --webhook (POST JSON) and with --push to
the editor of --url. The Admin API is polled every --poll seconds: a deploy (new rev) is noted
with the nodes it changed, the graph is reloaded, and changed targets start a new reference.

examples:
  nodered-causal watch --url http://127.0.0.1:1880 --mqtt mqtt://127.0.0.1:1883 --store runs.db
  nodered-causal watch --url http://127.0.0.1:1880 --mqtt --target sink --retention 7d
  nodered-causal watch --url http://127.0.0.1:1880 --http 127.0.0.1:8765 \\
      --alerts mqtt://127.0.0.1:1883 --webhook http://127.0.0.1:9000/hook --json
  nodered-causal incidents list --store runs.db
  nodered-causal attribute --store runs.db --target sink --since -15m --until -5m
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="watch a running Node-RED: detect shifts of its outputs, explain them, alert",
        description="Record continuously, detect when a target shifts, explain it, alert.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_collector_args(parser)
    parser.add_argument(
        "--run", default="watch", type=t.RUN_NAME, help="run to record into (default watch)"
    )
    parser.add_argument(
        "--target", action="append", metavar="NODE_ID", type=t.NODE_ID,
        help="runtime id of a node to watch (repeatable; default: the flow's outputs)",
    )  # fmt: skip
    add_window_arg(parser, what="detection")
    parser.add_argument(
        "--warmup", type=t.count(4, 100_000), default=40, metavar="N",
        help="windows of reference before a target's detectors run (default 40)",
    )  # fmt: skip
    parser.add_argument(
        "--min-incident", type=t.count(4, 100_000), default=10, metavar="N",
        help="windows after the change point before the first attribution (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--update-every", type=t.number(low=0.5, high=86400), default=10.0, metavar="S",
        help="re-attribute an open incident every S seconds as evidence grows (default 10)",
    )  # fmt: skip
    parser.add_argument(
        "--alarms-per-day", type=t.number(low=0, high=1e6, low_open=True), default=1.0,
        metavar="R", help="false alarms per target per day the detectors are calibrated for "
        "(default 1)",
    )  # fmt: skip
    parser.add_argument(
        "--retention", type=t.DURATION, default=86400.0, metavar="DURATION",
        help="keep --run's records this long (24h, 7d, 90m; default 24h; 0: forever); "
        "incidents and other runs stay",
    )  # fmt: skip
    parser.add_argument(
        "--alerts", type=t.MQTT_URL, metavar="URL",
        help="broker for the incident alerts (default: the --mqtt broker; none with --http)",
    )  # fmt: skip
    parser.add_argument(
        "--webhook", type=t.HTTP_URL, metavar="URL", help="also POST each incident document here"
    )
    parser.add_argument(
        "--push", action="store_true",
        help="also show incidents in the Node-RED editor of --url (the tap plugin's sidebar)",
    )  # fmt: skip
    parser.add_argument(
        "--report-dir", type=t.NEW_OR_EXISTING_DIR, metavar="DIR",
        help="write each incident's HTML report to DIR/incident-<id>.html as it changes "
        f"(env {config.REPORT_DIR.name})",
    )  # fmt: skip
    parser.add_argument(
        "--poll", type=t.INTERVAL, default=5.0, metavar="S",
        help="seconds between Admin API polls for deploys (default 5; 0: never)",
    )  # fmt: skip
    parser.add_argument(
        "--status-every", type=t.INTERVAL, default=30.0, metavar="S",
        help="status line on stderr every S seconds (default 30; 0: never)",
    )  # fmt: skip
    parser.add_argument(
        "--json", action="store_true",
        help="print each incident document as one JSON line on stdout (else one text line)",
    )  # fmt: skip
    add_nodered_args(parser)
    parser.set_defaults(func=run)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(args: argparse.Namespace) -> int:
    mqtt, http = collector_from_args(args, "watch", args.run)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        return _watch(args, mqtt, http, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _alerts(args: argparse.Namespace, mqtt: Any, client: Any) -> Any:
    from nodered_causal.collector.mqtt import default_client_id, parse_mqtt_url
    from nodered_causal.watch import Alerts

    broker = None
    if args.alerts:
        broker = parse_mqtt_url(args.alerts)
    elif mqtt is not None:
        broker = mqtt
    ident = default_client_id(store_where(args.store, resolve=True), "watch-alerts", args.run)
    return Alerts(
        mqtt=broker, webhook=args.webhook, push=client if args.push else None, client_id=ident
    )


def _say(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(doc, default=str), flush=True)
        return
    top = doc["ranking"][0]["name"] if doc.get("ranking") else "-"
    size = doc.get("size", {}).get("change_sd")
    moved = f"{size:+.1f} sd" if isinstance(size, float) else "?"
    print(
        f"{doc['updated_at']} incident {doc['id']} {doc['state']}: {doc['target_name']} "
        f"{doc['signal']} {moved} since {doc['changed_at']}; {doc['verdict']} (top: {top})",
        flush=True,
    )


def _watch(args: argparse.Namespace, mqtt: Any, http: Any, stop: threading.Event) -> int:
    from nodered_causal.collector import Collector, open_store
    from nodered_causal.errors import NoderedCausalError
    from nodered_causal.watch import WatchConfig

    settings = WatchConfig(
        window_s=args.window,
        warmup=args.warmup,
        reference=max(240, args.warmup),
        min_incident=args.min_incident,
        update_every_s=args.update_every,
        alarms_per_day=args.alarms_per_day,
        retention_s=args.retention or None,
    )
    client = client_from_args(args)
    with client, open_store(args.store) as store:
        flows, rev = client.get_flows()
        alerts = _alerts(args, mqtt, client)
        try:
            watcher = _start(args, store, flows, rev, settings, alerts)
            alerts.graph = lambda: watcher.dag
            collector = Collector(store, args.run, mqtt=mqtt, http=http).start()
            watcher.start_at(time.time_ns())
            try:
                code = _loop(args, stop, client, collector, watcher, NoderedCausalError)
            finally:
                drained = collector.shutdown()
                watcher.save()
            collector.check()
        finally:
            alerts.close()
    open_now = len(store_incidents_open(watcher))
    print(
        f"stopped: {collector.counts().records} records stored this session, "
        f"{open_now} incident(s) open (resumed when watch starts again)",
        file=sys.stderr,
    )
    return code if drained else 1


def store_incidents_open(watcher: Any) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = watcher.incident_docs()
    return docs


def _start(
    args: argparse.Namespace, store: Any, flows: Any, rev: Any, settings: Any, alerts: Any
) -> Any:
    from nodered_causal.collector.recording import snapshot_of
    from nodered_causal.errors import UnknownNodeError
    from nodered_causal.flows import load_flow, to_causal_dag
    from nodered_causal.watch import Watcher

    flow = load_flow(flows, source=args.url)
    snap = snapshot_of(flow, rev, to_causal_dag(flow))
    for node in args.target or []:
        if node not in snap.node_ids:
            raise UnknownNodeError(f"the deployed flow has no node {node!r}", node_id=node)
    store.start_run(args.run, resume=True, flow_rev=rev, dag=snap.dag)

    def publish(doc: dict[str, Any]) -> None:
        alerts.send(doc)
        _say(args, doc)
        if report_dir:
            _write_report(report_dir, watcher, doc)

    report_dir = args.report_dir or config.REPORT_DIR.get(None)

    watcher = Watcher(
        store, args.run, dag=snap.dag, rev=rev, targets=args.target, config=settings,
        publish=publish,
    )  # fmt: skip
    watcher.deployed(flows, rev)
    cal = watcher.calibration
    resumed = watcher.incident_docs()
    print(
        f"watching {', '.join(watcher.targets) or '(no targets)'} of {client_url(args)} "
        f"(flow rev {rev}); run {args.run!r} in {store_where(args.store)}; "
        f"{args.window:g} s windows, threshold h={cal.h:.2f} for <= {args.alarms_per_day:g} "
        f"false alarm(s)/day/target; {len(resumed)} open incident(s) resumed (Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    return watcher


def _write_report(folder: str, watcher: Any, doc: dict[str, Any]) -> None:
    """The incident's report page; a failure is a warning, never the end of watch."""
    from pathlib import Path

    from nodered_causal.errors import NoderedCausalError
    from nodered_causal.report.write import write_answer_report
    from nodered_causal.watch.report import answer_from_incident

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = Path(folder) / f"incident-{doc['id']}.html"
        write_answer_report(path, watcher.dag, answer_from_incident(doc))
    except (NoderedCausalError, OSError) as exc:
        print(f"nodered-causal: warning: incident report not written: {exc}", file=sys.stderr)


def client_url(args: argparse.Namespace) -> str:
    from nodered_causal.cli._common import nodered_url

    return str(nodered_url(args))


def _loop(
    args: argparse.Namespace,
    stop: threading.Event,
    client: Any,
    collector: Any,
    watcher: Any,
    errors: type[Exception],
) -> int:
    tick = max(2.0, args.window)  # windows are read in batches: pandas costs per call
    next_poll = time.monotonic() + args.poll if args.poll else float("inf")
    next_status = time.monotonic() + args.status_every if args.status_every else float("inf")
    api_down = False
    while not stop.wait(tick):
        collector.check()
        watcher.step()
        now = time.monotonic()
        if now >= next_poll:
            next_poll = now + args.poll
            try:
                flows, rev = client.get_flows()
            except errors as exc:  # Node-RED restarting: not an error of watch
                if not api_down:
                    print(f"nodered-causal: warning: {exc}", file=sys.stderr, flush=True)
                api_down = True
            else:
                api_down = False
                diff = watcher.deployed(flows, rev)
                if diff is not None:
                    print(
                        f"deploy: flow rev {rev}, changed {', '.join(diff['changed']) or '-'}, "
                        f"added {len(diff['added'])}, removed {len(diff['removed'])}",
                        file=sys.stderr,
                        flush=True,
                    )
        if now >= next_status:
            next_status = now + args.status_every
            c = collector.counts()
            print(
                f"{c.records} records, {len(watcher.incident_docs())} open incident(s)",
                file=sys.stderr,
                flush=True,
            )
    return 0
