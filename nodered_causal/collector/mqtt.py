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

Shared subscriptions (``MqttSettings.shared``, ``collect --shared GROUP``): several collectors
subscribe to ``$share/GROUP/<topic>`` with MQTT 5 and the broker hands each batch to one of them.
Each collector has its own client id and persistent session (session expiry
:data:`SESSION_EXPIRY`), acks after its write like any collector, and the store's idempotent
appends make a batch that two of them get (a redelivery) land once. What Mosquitto (2.0) does with
a collector that dies: its session stays in the group and keeps getting its share, queued (so
``max_queued_messages`` must be raised, as above), and delivered when a collector with its client
id connects again — restart it (or start one with its ``--client-id``) and nothing is lost. A
collector that stops cleanly unsubscribes first, stores what is still in flight, and only then
disconnects, so its share goes to the others while it is away. Two collectors with one client id
take the session from each other: the one taken over stops with a :class:`TransportError`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from nodered_causal.collector.writer import BatchResult, Writer
from nodered_causal.errors import StoreError, TransportError

__all__ = [
    "DEFAULT_TOPIC",
    "SESSION_EXPIRY",
    "MqttIngest",
    "MqttSettings",
    "default_client_id",
    "parse_mqtt_url",
]

logger = logging.getLogger(__name__)

#: The topic filter that matches every tap's records topic ``nodered-causal/<tap>/records``.
DEFAULT_TOPIC = "nodered-causal/+/records"
#: MQTT 5 session expiry of a shared collector (s): the broker keeps its share that long after it
#: went away (then drops it: seq gaps in the completeness report).
SESSION_EXPIRY = 7 * 86_400
_SESSION_TAKEN_OVER = 142  # MQTT 5 DISCONNECT reason code (Mosquitto >= 2.0.12 sends it)
#: Mosquitto 2.0.11 just closes a taken-over connection: that many closes, each within
#: _FLAP_S of the connect before it and all within _FLAP_WINDOW_S, mean a twin has our client id.
_FLAPS, _FLAP_S, _FLAP_WINDOW_S = 3, 2.5, 30.0
_QUIET_S = 0.3  # a leaving shared collector stores what arrives until this long without a message


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
    shared: str | None = None
    session_expiry: int = SESSION_EXPIRY

    @property
    def subscription(self) -> str:
        """The topic filter subscribed to: ``$share/<group>/<topic>`` for a shared collector."""
        return f"$share/{self.shared}/{self.topic}" if self.shared else self.topic


def parse_mqtt_url(
    url: str,
    *,
    topic: str = DEFAULT_TOPIC,
    client_id: str = "nodered-causal-collector",
    shared: str | None = None,
) -> MqttSettings:
    """``mqtt://host:1883`` (or ``mqtts://``, ``host:port``, ``host``) → :class:`MqttSettings`;
    ``shared``: the share group of a collector that shares the subscription with others."""
    if shared is not None and (not shared or any(c in shared for c in "/+#")):
        raise TransportError(
            f"share group {shared!r} must be a non-empty name without '/', '+' or '#'"
        )
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
        shared=shared,
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
        self._client = _client(settings, clean=False, manual_ack=True)
        # a broker restart: reconnect within seconds (paho backs off up to 120 s by default, and
        # a restarted broker without persistence only queues for subscribed sessions)
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_unsubscribe = self._on_unsubscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._subscribed = threading.Event()
        self._unsubscribed = threading.Event()
        self._failure: str | None = None
        self._accepting = True
        self._last_message = time.monotonic()
        self._connected_at = 0.0
        self._flaps: list[float] = []
        self.session_present: bool | None = None
        self.messages = 0
        #: Why this collector cannot go on (its session was taken over), else None.
        self.fatal: str | None = None

    @property
    def where(self) -> str:
        s = self.settings
        return f"mqtt://{s.host}:{s.port} topic {s.subscription!r}"

    def start(self, timeout: float = 10.0) -> MqttIngest:
        """Connect, subscribe (QoS 1) and return once the broker confirmed the subscription."""
        try:
            _connect(self._client, self.settings, clean=False)
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
        if self.settings.shared and self.fatal is None:
            self._leave_group(timeout)
        self._accepting = False
        drained = self.writer.shutdown(timeout)
        if not keep_session and not self.settings.shared:
            self._client.unsubscribe(self.settings.subscription)
        self._client.disconnect()
        self._client.loop_stop()
        if not keep_session:
            self._discard_session(timeout)
        return drained

    def _leave_group(self, timeout: float) -> None:
        """A shared collector going away: unsubscribe so the broker routes its share to the
        others, then keep storing what is already in flight until it has been quiet a moment."""
        self._client.unsubscribe(self.settings.subscription)
        deadline = time.monotonic() + timeout
        self._unsubscribed.wait(timeout)
        while time.monotonic() < deadline:
            quiet = time.monotonic() - self._last_message
            if quiet >= _QUIET_S:
                return
            time.sleep(_QUIET_S - quiet)

    def _discard_session(self, timeout: float) -> None:
        """Connect once with a clean session under our client id: the broker drops its state."""
        cleaner = _client(self.settings, clean=True, manual_ack=False)
        connected = threading.Event()
        cleaner.on_connect = lambda *args: connected.set()
        try:
            _connect(cleaner, self.settings, clean=True)
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
        self._connected_at = time.monotonic()
        client.subscribe(self.settings.subscription, qos=self.qos)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            self._failure = f"subscription to {self.settings.subscription!r} refused: {failed[0]}"
        self._subscribed.set()

    def _on_unsubscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        self._unsubscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acked: the broker sends it again with the next session
        self.messages += 1
        self._last_message = time.monotonic()
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
        now = time.monotonic()
        if self._accepting and now - self._connected_at < _FLAP_S:
            self._flaps = [t for t in self._flaps if now - t < _FLAP_WINDOW_S] + [now]
        if getattr(reason, "value", None) == _SESSION_TAKEN_OVER or len(self._flaps) >= _FLAPS:
            self.fatal = (
                f"another client connected to {self.where} with client id "
                f"{self.settings.client_id!r} and took this collector's session over"
                + ("" if len(self._flaps) < _FLAPS else " (the broker closed the connection "
                   f"right after each of the last {_FLAPS} connects)")
                + ": give each collector its own client id"
            )  # fmt: skip
            logger.error("%s", self.fatal)
            # no reconnect: the two would take the session back and forth (in the network
            # thread, loop_stop only tells the loop to end)
            client.disconnect()
            client.loop_stop()
        elif self._accepting and reason.is_failure:
            logger.warning("disconnected from %s (%s), reconnecting", self.where, reason)


def _client(settings: MqttSettings, *, clean: bool, manual_ack: bool) -> paho.Client:
    """A paho client for ``settings``: MQTT 3.1.1, or MQTT 5 for a shared subscription."""
    if settings.shared:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5,
            manual_ack=manual_ack,
        )
    else:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=clean,
            protocol=paho.MQTTv311,
            manual_ack=manual_ack,
        )
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set()
    return client


def _connect(client: paho.Client, settings: MqttSettings, *, clean: bool) -> None:
    """Connect; an MQTT 5 session lives ``session_expiry`` s after a disconnect (0 if clean)."""
    if not settings.shared:
        client.connect(settings.host, settings.port, settings.keepalive)
        return
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0 if clean else settings.session_expiry
    client.connect(
        settings.host, settings.port, settings.keepalive, clean_start=clean, properties=props
    )
