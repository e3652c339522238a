"""HTTP ingest: ``POST /v1/records`` with a JSON array body; 2xx only after the durable write.

Answers (JSON bodies):

- ``200 {"accepted": n, "rejected": m}`` — stored (bad records in the array are kept aside);
- ``400`` — the body is not a JSON array (stored as one rejected record; do not retry);
- ``413`` — body over the limit; ``404``/``405`` — wrong path or method;
- ``503`` — the store failed or timed out: nothing was stored, retry later.

``GET /v1/health`` answers ``200 {"ok": true, ...counts}``. HTTP/1.1 keep-alive is supported.
Binds to 127.0.0.1 by default; it has no authentication, so do not expose it.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nodered_causal.collector.writer import Writer
from nodered_causal.errors import StoreError, TransportError

__all__ = ["MAX_BODY", "HttpIngest", "parse_address"]

logger = logging.getLogger(__name__)

#: Largest accepted request body (bytes).
MAX_BODY = 32 * 1024 * 1024
RECORDS_PATH = "/v1/records"


def parse_address(address: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``127.0.0.1:8765`` / ``:8765`` / ``8765`` → (host, port)."""
    host, _, port = address.rpartition(":")
    try:
        number = int(port)
    except ValueError as exc:
        raise TransportError(f"not a HOST:PORT address: {address!r}") from exc
    if not 0 <= number <= 65535:
        raise TransportError(f"port out of range in {address!r}")
    return (host.strip("[]") or default_host, number)


class HttpIngest:
    """A threading HTTP server that hands each POSTed batch to a :class:`Writer` and waits."""

    def __init__(
        self, writer: Writer, host: str = "127.0.0.1", port: int = 0, *, write_timeout: float = 30.0
    ) -> None:
        self.writer = writer
        self.write_timeout = write_timeout
        handler = type("Handler", (_Handler,), {"ingest": self})
        try:
            self._server = _Server((host, port), handler)
        except OSError as exc:
            raise TransportError(f"cannot listen on {host}:{port}: {exc}") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="nodered-causal-http", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return (str(host), int(port))

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}{RECORDS_PATH}"

    def start(self) -> HttpIngest:
        self._thread.start()
        logger.info("receiving records on %s", self.url)
        return self

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop accepting requests, then drain the writer."""
        self._server.shutdown()
        self._server.server_close()
        return self.writer.shutdown(timeout)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A tap that goes away mid keep-alive (Node-RED stopping) is normal: log, don't print."""
        logger.debug("connection from %s ended abruptly", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    ingest: HttpIngest
    protocol_version = "HTTP/1.1"
    server_version = "nodered-causal-collector"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?", 1)[0] != RECORDS_PATH:
            self._reply(404, {"error": f"POST batches to {RECORDS_PATH}"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(411, {"error": "Content-Length required"})
            return
        if length > MAX_BODY:
            self._reply(413, {"error": f"body over {MAX_BODY} bytes"}, close=True)
            return
        body = self.rfile.read(length)
        try:
            result = self.ingest.writer.write(body, timeout=self.ingest.write_timeout)
        except StoreError as exc:
            self._reply(503, {"error": str(exc)})
            return
        if not result.ok:
            self._reply(503, {"error": result.error or "not stored"})
        elif result.whole_body_rejected:
            self._reply(400, {"error": "body is not a JSON array of records", "rejected": 1})
        else:
            self._reply(200, {"accepted": result.records, "rejected": result.rejected})

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/v1/health":
            self._reply(404, {"error": "not found"})
            return
        counts = self.ingest.writer.counts()
        self._reply(200, {"ok": self.ingest.writer.error is None, **counts.__dict__})

    def do_PUT(self) -> None:  # noqa: N802
        self._reply(405, {"error": "use POST"})

    def _reply(self, status: int, body: dict[str, Any], *, close: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s " + format, self.address_string(), *args)
