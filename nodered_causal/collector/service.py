"""The collector: one run's writer plus its MQTT and/or HTTP ingest, started and stopped together.

>>> with Store("runs.db") as store:                                   # doctest: +SKIP
...     store.start_run("baseline")
...     with Collector(store, "baseline", mqtt=parse_mqtt_url("mqtt://127.0.0.1:1883")):
...         time.sleep(60)
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from nodered_causal.collector.http import HttpIngest
from nodered_causal.collector.mqtt import MqttIngest, MqttSettings
from nodered_causal.collector.store import RecordStore, Run
from nodered_causal.collector.writer import IngestCounts, Writer
from nodered_causal.errors import StoreError, StoreWriteError, TransportError

__all__ = ["Collector"]

logger = logging.getLogger(__name__)


class Collector:
    """Receive tap batches for ``run`` over MQTT (``mqtt``) and/or HTTP (``http`` = host, port)."""

    def __init__(
        self,
        store: RecordStore,
        run: str | Run,
        *,
        mqtt: MqttSettings | None = None,
        http: tuple[str, int] | None = None,
        known_nodes: Collection[str] | None = None,
        max_pending: int = 1000,
    ) -> None:
        if mqtt is None and http is None:
            raise ValueError("a Collector needs mqtt settings, an http address, or both")
        self.store = store
        self.writer = Writer(store, run, known_nodes=known_nodes, max_pending=max_pending)
        self.run = self.writer.run
        self.mqtt = MqttIngest(mqtt, self.writer) if mqtt else None
        self.http = HttpIngest(self.writer, *http) if http else None
        self._started = False

    def start(self, timeout: float = 10.0) -> Collector:
        """Start receiving; returns once subscribed/listening (raises TransportError if not)."""
        try:
            if self.http:
                self.http.start()
            if self.mqtt:
                self.mqtt.start(timeout)
        except BaseException:
            self.shutdown(timeout)
            raise
        self._started = True
        return self

    def counts(self) -> IngestCounts:
        return self.writer.counts()

    def check(self) -> None:
        """Raise :class:`StoreWriteError` if the writer stopped storing (disk full, I/O, a bug),
        or the transport error that stopped the MQTT ingest (its session taken over)."""
        if self.writer.error is not None:
            raise StoreWriteError(f"recording stopped: {self.writer.error}") from self.writer.error
        if self.mqtt is not None and self.mqtt.fatal is not None:
            raise TransportError(f"collecting stopped: {self.mqtt.fatal}")

    def end_run(self) -> Run | None:
        """End the run in the store. When the writer had stopped, ending it may fail for the same
        reason (a full disk): that is logged and None returned, :meth:`check` says why."""
        try:
            return self.store.end_run(self.run)
        except StoreError as exc:
            if self.writer.error is None:
                raise
            logger.warning("could not end run %r: %s", self.run.name, exc)
            return None

    def shutdown(self, timeout: float = 10.0, *, keep_session: bool = True) -> bool:
        """Stop receiving and store everything received; False if draining timed out."""
        drained = True
        if self.http:
            drained = self.http.shutdown(timeout) and drained
        if self.mqtt and self._started:
            drained = self.mqtt.shutdown(timeout, keep_session=keep_session) and drained
        drained = self.writer.shutdown(timeout) and drained
        if not drained:
            logger.warning("collector shut down before everything received was stored")
        return drained

    def __enter__(self) -> Collector:
        return self if self._started else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
