"""Hostile ingest campaign: many seeded hostile HTTP bodies, framings and MQTT payloads.

    python benchmarks/bench_hostile_ingest.py                  # 200 / 50 / 100 cases per class
    python benchmarks/bench_hostile_ingest.py --http 50 --mqtt 20 --no-append

The same generators and oracle as ``tests/unit/test_ingest_hostile.py`` and
``tests/integration/test_ingest_poison_mqtt.py`` (``tests/hostile_ingest.py``), with more cases:
a real ``HttpIngest`` on 127.0.0.1 and a real ``Collector`` subscribed at the machine's Mosquitto
(127.0.0.1:1883, a unique topic). Counted per class: cases, tracebacks (errors logged by the
collector and exceptions escaping any thread), answers the contract does not allow, good records
sent in accepted bodies, and good records lost or blocked behind a bad one. Prints a table and
appends a dated section to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import append_results, machine  # noqa: E402  (benchmarks/ is on sys.path)

from nodered_causal.collector import (  # noqa: E402
    Collector,
    HttpIngest,
    Store,
    Writer,
    parse_mqtt_url,
)
from tests.hostile_ingest import (  # noqa: E402
    HttpTarget,
    MqttTarget,
    Tally,
    run_classes,
    run_framings,
)
from tests.mqtt_helpers import Publisher, discard_session  # noqa: E402


class Tracebacks(logging.Handler):
    """Counts errors and tracebacks logged under ``nodered_causal`` and thread exceptions."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        logging.getLogger("nodered_causal").addHandler(self)
        self._hook = threading.excepthook
        threading.excepthook = self._thread_died

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.count += 1

    def _thread_died(self, args: Any) -> None:
        self.count += 1
        self._hook(args)

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


def rows(transport: str, tally: Tally, tracebacks: int, lost: int) -> list[str]:
    out = []
    for cls, n in sorted(tally.cases.items()):
        wrong = sum(1 for f in tally.failures if f.startswith(f"{cls}:"))
        out.append(f"| {transport} | {cls} | {n} | {wrong} | | | |")
    total = sum(tally.cases.values())
    out.append(
        f"| {transport} | **all** | **{total}** | **{len(tally.failures)}** "
        f"| **{tracebacks}** | {len(tally.good)} | **{lost}** |"
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--http", type=int, default=200, help="HTTP bodies per class")
    ap.add_argument("--framing", type=int, default=50, help="HTTP framings per class")
    ap.add_argument("--mqtt", type=int, default=100, help="MQTT payloads per class")
    ap.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    header = machine()
    tracebacks = Tracebacks()
    table = [
        "| transport | class | cases | wrong answers | tracebacks | good records sent "
        "| lost or blocked |",
        "|---|---|---|---|---|---|---|",
    ]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "runs.db") as store:
        store.start_run("http")
        ingest = HttpIngest(Writer(store, "http"), write_timeout=60).start()
        http = HttpTarget(ingest)
        run_classes(http.send, args.http)
        http.close()
        table += rows(
            "HTTP body", http.tally, tracebacks.take(), len(http.tally.lost(store, "http"))
        )
        framing = run_framings(ingest.address, args.framing)
        table += rows("HTTP framing", framing, tracebacks.take(), 0)
        ingest.shutdown()

        prefix = f"nrc-bench-{uuid.uuid4().hex[:8]}"
        settings = parse_mqtt_url(
            "mqtt://127.0.0.1:1883", topic=f"{prefix}/+/records", client_id=prefix
        )
        store.start_run("mqtt")
        publisher = Publisher()
        with Collector(store, "mqtt", mqtt=settings) as collector:
            mqtt = MqttTarget(collector, publisher, f"{prefix}/t/records")
            run_classes(mqtt.send, args.mqtt)
        publisher.close()
        discard_session(settings.client_id)
        table += rows(
            "MQTT payload", mqtt.tally, tracebacks.take(), len(mqtt.tally.lost(store, "mqtt"))
        )
    seconds = time.monotonic() - t0
    print("\n".join(table))
    print(f"{seconds:.1f} s")
    if not args.no_append:
        section = [
            "",
            f"## Hostile ingest ({dt.datetime.now():%Y-%m-%d %H:%M})",
            "",
            f"Machine: {header}. `python benchmarks/bench_hostile_ingest.py --http {args.http} "
            f"--framing {args.framing} --mqtt {args.mqtt}` ({seconds:.0f} s): seeded hypothesis "
            "cases (tests/hostile_ingest.py) against a real HttpIngest and a Collector at the "
            "machine's Mosquitto. A wrong answer is a 5xx, a dropped connection, a good record "
            "not accepted, or an unhealthy collector after the case.",
            "",
            *table,
            "",
        ]
        append_results("\n".join(section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
