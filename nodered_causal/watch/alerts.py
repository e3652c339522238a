"""Where incident documents go: MQTT (QoS 1, the last one retained), a webhook, the editor.

Topic: ``nodered-causal/<tap>/incidents`` (``<tap>``: the tap instance whose records showed the
change). A sink never raises into watch: a failure is logged (once per kind of failure in a row)
and counted, and the incident stays in the store whatever happens here.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Alerts", "incidents_topic"]

logger = logging.getLogger(__name__)


def incidents_topic(tap: str | None, prefix: str = "nodered-causal") -> str:
    """``nodered-causal/<tap>/incidents`` (``watch`` when no tap is known)."""
    return f"{prefix}/{tap or 'watch'}/incidents"


class Alerts:
    """Publish incident documents; ``mqtt`` is an :class:`~nodered_causal.collector.MqttSettings`
    (its broker and credentials), ``webhook`` a URL, ``push`` a Node-RED client (the tap plugin's
    ``POST /causal-tap/incidents``)."""

    def __init__(
        self,
        *,
        mqtt: Any | None = None,
        webhook: str | None = None,
        push: Any | None = None,
        client_id: str = "nrc-watch-alerts",
        timeout: float = 5.0,
    ) -> None:
        self.webhook = webhook
        self.push = push
        #: The flow's analysis graph now (it changes on a redeploy): with it, an incident pushed
        #: to the editor carries its report page (the sidebar's "Full report" link).
        self.graph: Callable[[], Any] | None = None
        self.timeout = timeout
        self.failures = 0
        self.sent = 0
        self._lock = threading.Lock()
        self._client: Any = None
        if mqtt is not None:
            import paho.mqtt.client as paho
            from paho.mqtt.enums import CallbackAPIVersion

            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
            if mqtt.username:
                client.username_pw_set(mqtt.username, mqtt.password)
            if mqtt.tls:
                client.tls_set()
            client.connect_async(mqtt.host, mqtt.port, keepalive=30)
            client.loop_start()
            self._client = client

    def send(self, doc: Mapping[str, Any]) -> None:
        """Publish one incident document to every configured sink."""
        body = json.dumps(doc, default=str)
        with self._lock:
            if self._client is not None:
                self._mqtt(doc, body)
            if self.webhook:
                self._post(doc, body)
            if self.push is not None:
                self._push(doc)

    def _mqtt(self, doc: Mapping[str, Any], body: str) -> None:
        topic = incidents_topic(doc.get("tap"))
        try:
            info = self._client.publish(topic, body, qos=1, retain=True)
            info.wait_for_publish(self.timeout)
            self.sent += 1
        except (RuntimeError, ValueError, OSError) as exc:
            self.failures += 1
            logger.warning("incident %s not published on %s: %s", doc.get("id"), topic, exc)

    def _post(self, doc: Mapping[str, Any], body: str) -> None:
        import requests

        try:
            resp = requests.post(
                str(self.webhook),
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=self.timeout,
            )
            resp.raise_for_status()
            self.sent += 1
        except requests.RequestException as exc:
            self.failures += 1
            logger.warning("incident %s not posted to the webhook: %s", doc.get("id"), exc)

    def _push(self, doc: Mapping[str, Any]) -> None:
        from nodered_causal.errors import NoderedCausalError
        from nodered_causal.report.push import push_incident

        try:
            client: Any = self.push
            push_incident(client, dict(doc), report_html=self._page(doc))
            self.sent += 1
        except NoderedCausalError as exc:
            self.failures += 1
            logger.warning("incident %s not pushed to the editor: %s", doc.get("id"), exc)

    def _page(self, doc: Mapping[str, Any]) -> str | None:
        """The incident's report page, or None without a graph or when it cannot be drawn."""
        if self.graph is None:
            return None
        from nodered_causal.report.page import render_answer
        from nodered_causal.watch.report import answer_from_incident

        try:
            return render_answer(self.graph(), answer_from_incident(dict(doc)))
        except Exception:  # noqa: BLE001 - a report is a courtesy: the alert goes out regardless
            logger.warning("incident %s: no report page for the editor", doc.get("id"))
            return None

    def close(self) -> None:
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None
