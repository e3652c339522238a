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

__all__ = ["add_transport_args", "register", "run", "store_where", "transport_from_args"]

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
  nodered-causal collect --mqtt mqtt://broker:1883 --shared fleet --client-id coll-1 \
      --store postgresql://nrc@db/fleet --run plant
  nodered-causal collect --mqtt mqtt://127.0.0.1:1883 --topic 'plant-a/+/records' --run night
  nodered-causal collect --http 127.0.0.1:8765 --store runs.db    # taps POST to /v1/records
  nodered-causal runs show collect --store runs.db                # readable while collecting
"""


def add_transport_args(parser: argparse.ArgumentParser) -> None:
    from nodered_causal.collector.mqtt import DEFAULT_TOPIC

    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--mqtt", metavar="URL", help="subscribe at this broker (mqtt://HOST:PORT)")
    parser.add_argument(
        "--topic", default=DEFAULT_TOPIC, help=f"MQTT topic filter (default {DEFAULT_TOPIC})"
    )
    parser.add_argument("--client-id", help="MQTT client id of the persistent session")
    where.add_argument(
        "--http", metavar="ADDR", help="listen for POST /v1/records on HOST:PORT (127.0.0.1:8765)"
    )
    parser.add_argument(
        "--store",
        default="runs.db",
        help="the store: a file (SQLite, default runs.db) or postgresql://[USER@]HOST[:PORT]/DB",
    )


def store_where(location: str, *, resolve: bool = False) -> str:
    """The store as messages show it: a PostgreSQL URL without credentials, a file path as given
    (``resolve``: absolute, e.g. to derive a stable client id)."""
    from nodered_causal.collector.postgres_store import is_postgres_url, redact_url

    if is_postgres_url(location):
        return redact_url(location)
    return str(Path(location).resolve()) if resolve else location


def transport_from_args(args: argparse.Namespace, *identity: str) -> tuple[Any, Any]:
    """(MqttSettings | None, (host, port) | None) from --mqtt/--topic/--client-id/--http."""
    from nodered_causal.collector.http import parse_address
    from nodered_causal.collector.mqtt import default_client_id, parse_mqtt_url

    mqtt = None
    shared = getattr(args, "shared", None)
    if args.mqtt:
        if shared is not None:  # one session per collector: the host tells them apart
            identity = (*identity, "shared", shared, socket.gethostname())
        client_id = args.client_id or default_client_id(
            store_where(args.store, resolve=True), args.topic, *identity
        )
        mqtt = parse_mqtt_url(args.mqtt, topic=args.topic, client_id=client_id, shared=shared)
    return mqtt, parse_address(args.http) if args.http else None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "collect",
        help="receive tap records into a store (long-running)",
        description="Receive wire-tap record batches over MQTT and/or HTTP and store them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_transport_args(parser)
    parser.add_argument("--run", default="collect", help="run name to store into (default collect)")
    parser.add_argument(
        "--shared",
        metavar="GROUP",
        help="share the subscription with the other collectors of GROUP (MQTT 5 $share/GROUP/...)",
    )
    parser.add_argument(
        "--url",
        help="note the deployed flow (rev and causal DAG) of the Node-RED at URL in the run, so "
        "attribute can read it (admin auth: NODERED_CAUSAL_NODERED_TOKEN)",
    )
    parser.add_argument(
        "--status-every",
        type=float,
        default=10.0,
        metavar="S",
        help="status line on stderr every S seconds (0: never)",
    )
    parser.add_argument("--json", action="store_true", help="print the final counts as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.collector import Collector, open_store, summarize

    if args.shared is not None and not args.mqtt:
        print("collect: --shared needs --mqtt (a shared subscription is MQTT)", file=sys.stderr)
        return 2
    mqtt, http = transport_from_args(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
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
