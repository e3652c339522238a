"""MQTT ingest: a paho-mqtt 2.x subscriber with a persistent session and acks after storing.

Loss-free by construction, as far as the broker lets it be:

- **Persistent session.** MQTT 3.1.1 with ``clean_session=False`` and a stable client id: while
  the collector is down (killed, restarted, upgraded), the broker keeps its subscription and
  queues the QoS 1 batches the taps publish; the restarted collector gets them.
- **Ack after the write.** ``manual_ack=True``: a batch is acked (PUBACK) only after the writer
  committed it; a batch received but not yet stored when the process dies is unacked, and the
  broker re-sends it on the next connect (the store ignores the duplicates).
- **The broker's queue limit.** Mosquitto keeps at most ``max_queued_messages`` QoS 1 messages
  (default **1000**) per offline persistent client (and per slow online one, beyond the
  ``max_inflight_messages`` in flight) and **silently drops** the rest. A tap batch is one
  message, so 1000 × batch size records is all a broker with default settings holds for a
  stopped collector. Raise it in ``mosquitto.conf``::

      max_queued_messages 0        # 0 = no limit (bounded by memory); or e.g. 1000000
      max_queued_bytes 0           # the byte limit (0 = none, the default)
      persistent_client_expiration 1d   # forget abandoned sessions eventually

  The tests start their own broker with such a config and show the loss with the default.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from nodered_causal.collector.writer import BatchResult, Writer
from nodered_causal.errors import StoreError, TransportError

__all__ = ["DEFAULT_TOPIC", "MqttIngest", "MqttSettings", "default_client_id", "parse_mqtt_url"]

logger = logging.getLogger(__name__)

#: The topic filter that matches every tap's records topic ``nodered-causal/<tap>/records``.
DEFAULT_TOPIC = "nodered-causal/+/records"


@dataclass(frozen=True)
class MqttSettings:
    """Where to subscribe: broker host/port (from ``mqtt://[user:pass@]host[:port]``), topic."""

    host: str
    port: int = 1883
    topic: str = DEFAULT_TOPIC
    client_id: str = "nodered-causal-collector"
    username: str | None = None
    password: str | None = None
    keepalive: int = 30
    tls: bool = False


def parse_mqtt_url(
    url: str, *, topic: str = DEFAULT_TOPIC, client_id: str = "nodered-causal-collector"
) -> MqttSettings:
    """``mqtt://host:1883`` (or ``mqtts://``, ``host:port``, ``host``) → :class:`MqttSettings`."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise TransportError(f"not an MQTT broker URL: {url!r} (expected mqtt://host:port)")
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise TransportError(f"bad port in MQTT URL {url!r}") from exc
    return MqttSettings(
        host=parts.hostname,
        port=port,
        topic=topic,
        client_id=client_id,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def default_client_id(*parts: str) -> str:
    """A stable client id from what identifies a collector (store path, topic, run), ≤ 23 chars."""
    digest = hashlib.sha1("\0".join(parts).encode()).hexdigest()[:12]
    return f"nrc-coll-{digest}"


class MqttIngest:
    """Subscribe to tap batches and hand them to a :class:`Writer`; ack once stored."""

    def __init__(self, settings: MqttSettings, writer: Writer, *, qos: int = 1) -> None:
        self.settings = settings
        self.writer = writer
        self.qos = qos
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=False,
            protocol=paho.MQTTv311,
            manual_ack=True,
        )
        if settings.username:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self._client.tls_set()
        # a broker restart: reconnect within seconds (paho backs off up to 120 s by default, and
        # a restarted broker without persistence only queues for subscribed sessions)
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._subscribed = threading.Event()
        self._failure: str | None = None
        self._accepting = True
        self.session_present: bool | None = None
        self.messages = 0

    @property
    def where(self) -> str:
        return f"mqtt://{self.settings.host}:{self.settings.port} topic {self.settings.topic!r}"

    def start(self, timeout: float = 10.0) -> MqttIngest:
        """Connect, subscribe (QoS 1) and return once the broker confirmed the subscription."""
        try:
            self._client.connect(self.settings.host, self.settings.port, self.settings.keepalive)
        except OSError as exc:
            raise TransportError(f"cannot connect to MQTT broker {self.where}: {exc}") from exc
        self._client.loop_start()
        if not self._subscribed.wait(timeout) or self._failure:
            self._client.loop_stop()
            reason = self._failure or f"no subscription confirmed within {timeout:g} s"
            raise TransportError(f"MQTT subscribe failed at {self.where}: {reason}")
        logger.info("subscribed to %s (session present: %s)", self.where, self.session_present)
        return self

    def shutdown(self, timeout: float = 10.0, *, keep_session: bool = True) -> bool:
        """Stop taking messages, store and ack what arrived, disconnect.

        Messages that arrive meanwhile stay unacked and come again with the next session.
        ``keep_session=False`` ends the session for good: the broker forgets the subscription and
        whatever it would have queued for this client id (a finished ``record`` run).
        """
        self._accepting = False
        drained = self.writer.shutdown(timeout)
        if not keep_session:
            self._client.unsubscribe(self.settings.topic)
        self._client.disconnect()
        self._client.loop_stop()
        if not keep_session:
            self._discard_session(timeout)
        return drained

    def _discard_session(self, timeout: float) -> None:
        """Connect once with a clean session under our client id: the broker drops its state."""
        cleaner = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=self.settings.client_id, clean_session=True
        )
        if self.settings.username:
            cleaner.username_pw_set(self.settings.username, self.settings.password)
        if self.settings.tls:
            cleaner.tls_set()
        connected = threading.Event()
        cleaner.on_connect = lambda *args: connected.set()
        try:
            cleaner.connect(self.settings.host, self.settings.port, self.settings.keepalive)
            cleaner.loop_start()
            connected.wait(timeout)
            cleaner.disconnect()
            cleaner.loop_stop()
        except OSError as exc:  # the data is stored; a leftover session is only untidy
            logger.warning("could not discard MQTT session %s: %s", self.settings.client_id, exc)

    # -- paho callbacks (network thread) ---------------------------------------------------------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            self._failure = f"connection refused: {reason}"
            self._subscribed.set()
            return
        self.session_present = bool(flags.session_present)
        client.subscribe(self.settings.topic, qos=self.qos)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            self._failure = f"subscription to {self.settings.topic!r} refused: {failed[0]}"
        self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acked: the broker sends it again with the next session
        self.messages += 1
        mid, qos = message.mid, message.qos

        def done(result: BatchResult) -> None:
            if result.ok and qos > 0:
                client.ack(mid, qos)

        try:
            self.writer.submit(message.payload, done)
        except StoreError:  # shutting down meanwhile: unacked, comes again next session
            logger.debug("message %d left unacked (writer stopped)", mid)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._accepting and reason.is_failure:
            logger.warning("disconnected from %s (%s), reconnecting", self.where, reason)
