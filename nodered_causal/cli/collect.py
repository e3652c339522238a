"""``nodered-causal collect``: receive tap records over MQTT or HTTP into a store until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nodered_causal.cli import _types as t
from nodered_causal.cli._common import add_store_arg, add_transport_args, transport_from_args
from nodered_causal.errors import UsageError

__all__ = ["add_collector_args", "collector_from_args", "register", "run", "store_where"]

EPILOG = """\
Records go into one named run of the store (--run, default 'collect'); restarting with the same
--run appends to it. Over MQTT the collector keeps a persistent session (QoS 1, a client id
derived from the store path and topic, or --client-id), so records published while it is down are
delivered when it comes back -- provided the broker queues them: Mosquitto's default
'max_queued_messages 1000' silently drops the rest; set 'max_queued_messages 0' (no limit) in
mosquitto.conf. Batches are acked / answered 2xx only after they are on disk.

With --shared GROUP several collectors split the taps' records (MQTT 5 shared subscription
$share/GROUP/<topic>); run them all with the same --store (a postgresql:// URL) and --run. Each
needs its own client id (default: derived from the host name; give --client-id when two run on
one host) and keeps its own session: a collector that was killed gets its share back when it
restarts with the same id. The broker must queue for it meanwhile (max_queued_messages 0).

examples:
  nodered-causal collect --mqtt mqtt://127.0.0.1:1883 --store runs.db
  nodered-causal collect                  # the broker of NODERED_CAUSAL_MQTT_URL (or local)
  nodered-causal collect --mqtt mqtt://broker:1883 --shared fleet --client-id coll-1 \
      --store postgresql://nrc@db/fleet --run plant
  nodered-causal collect --mqtt mqtt://127.0.0.1:1883 --topic 'plant-a/+/records' --run night
  nodered-causal collect --http 127.0.0.1:8765 --store runs.db    # taps POST to /v1/records
  nodered-causal collect --http           # on NODERED_CAUSAL_HTTP_ADDR (or 127.0.0.1:8765)
  nodered-causal runs show collect --store runs.db                # readable while collecting
"""


def add_collector_args(parser: argparse.ArgumentParser) -> None:
    """``--mqtt``/``--http``, ``--topic``, ``--client-id``, ``--store`` (collect and record)."""
    from nodered_causal.collector.mqtt import DEFAULT_TOPIC

    add_transport_args(parser)
    parser.add_argument(
        "--topic",
        default=DEFAULT_TOPIC,
        type=t.TOPIC_FILTER,
        help=f"MQTT topic filter (default {DEFAULT_TOPIC})",
    )
    parser.add_argument(
        "--client-id", type=t.CLIENT_ID, help="MQTT client id of the persistent session"
    )
    add_store_arg(parser)


def store_where(location: str, *, resolve: bool = False) -> str:
    """The store as messages show it: a PostgreSQL URL without credentials, a file path as given
    (``resolve``: absolute, e.g. to derive a stable client id)."""
    from nodered_causal.collector.postgres_store import is_postgres_url, redact_url

    if is_postgres_url(location):
        return redact_url(location)
    return str(Path(location).resolve()) if resolve else location


def collector_from_args(args: argparse.Namespace, *identity: str) -> tuple[Any, Any]:
    """(MqttSettings | None, (host, port) | None) from --mqtt/--topic/--client-id/--http; with
    neither --mqtt nor --http the broker of ``NODERED_CAUSAL_MQTT_URL`` (default local)."""
    from nodered_causal.collector.mqtt import default_client_id, parse_mqtt_url

    url, http = transport_from_args(args)
    if url is None:
        return None, http
    shared = getattr(args, "shared", None)
    if shared is not None:  # one session per collector: the host tells them apart
        identity = (*identity, "shared", shared, socket.gethostname())
    client_id = args.client_id or default_client_id(
        store_where(args.store, resolve=True), args.topic, *identity
    )
    return parse_mqtt_url(url, topic=args.topic, client_id=client_id, shared=shared), None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "collect",
        help="receive tap records into a store (long-running)",
        description="Receive wire-tap record batches over MQTT or HTTP and store them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_collector_args(parser)
    parser.add_argument(
        "--run", default="collect", type=t.RUN_NAME, help="run name to store into (default collect)"
    )
    parser.add_argument(
        "--shared",
        metavar="GROUP",
        type=_GROUP,
        help="share the subscription with the other collectors of GROUP (MQTT 5 $share/GROUP/...)",
    )
    parser.add_argument(
        "--url",
        type=t.HTTP_URL,
        help="note the deployed flow (rev and causal DAG) of the Node-RED at URL in the run, so "
        "attribute can read it (admin auth: NODERED_CAUSAL_NODERED_TOKEN)",
    )
    parser.add_argument(
        "--status-every",
        type=t.INTERVAL,
        default=10.0,
        metavar="S",
        help="status line on stderr every S seconds (0: never)",
    )
    parser.add_argument("--json", action="store_true", help="print the final counts as JSON")
    parser.set_defaults(func=run)


@t.option_type("group")
def _GROUP(text: str) -> str:  # noqa: N802 - a shared-subscription group: one topic level
    if any(c in text for c in "/+#") or not text.strip():
        raise ValueError("must be a non-empty name without '/', '+' or '#'")
    return t.RUN_NAME(text)


def run(args: argparse.Namespace) -> int:
    if args.shared is not None and args.http is not None:
        raise UsageError("--shared needs --mqtt (a shared subscription is MQTT), not --http")
    mqtt, http = collector_from_args(args)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        return _collect(args, mqtt, http, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _collect(args: argparse.Namespace, mqtt: Any, http: Any, stop: threading.Event) -> int:
    from nodered_causal.collector import Collector, open_store, summarize

    snapshot = None
    if args.url:
        from nodered_causal import config
        from nodered_causal.collector import flow_snapshot

        snapshot = flow_snapshot(args.url, token=config.NODERED_TOKEN.get(None))
    with open_store(args.store) as store:
        store.start_run(
            args.run,
            resume=True,
            flow_rev=snapshot.rev if snapshot else None,
            dag=snapshot.dag if snapshot else None,
        )
        collector = Collector(store, args.run, mqtt=mqtt, http=http).start()
        where = [f"mqtt://{mqtt.host}:{mqtt.port} topic {mqtt.subscription!r}"] if mqtt else []
        if mqtt and mqtt.shared:
            where[0] += f" as {mqtt.client_id}"
        where += [collector.http.url] if collector.http else []
        print(
            f"collecting run {args.run!r} into {store.location} from {' and '.join(where)} "
            "(Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        next_status = time.monotonic() + args.status_every
        try:
            while not stop.wait(0.25):  # a writer that stopped ends the process within 0.25 s
                collector.check()
                if args.status_every and time.monotonic() >= next_status:
                    next_status += args.status_every
                    c = collector.counts()
                    print(
                        f"{c.records} records, {c.rejected} rejected, {c.duplicates} duplicates, "
                        f"{c.pending} pending",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            drained = collector.shutdown()
            # a shared run goes on while the other collectors of the group write it
            run_ = store.run(args.run) if args.shared else collector.end_run()
        collector.check()  # the writer may have stopped while draining
        assert run_ is not None
        report = summarize(store, run_, collector.counts(), drained=drained)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        c = report.ingest
        print(
            f"stopped: {c.records} records stored, {c.rejected} rejected, "
            f"{c.duplicates} duplicates this session",
            file=sys.stderr,
        )
    return 0 if drained else 1
