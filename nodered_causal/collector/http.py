"""HTTP ingest: ``POST /v1/records`` with a JSON array body; 2xx only after the durable write.

Answers (JSON bodies):

- ``200 {"accepted": n, "rejected": m}`` — stored (bad records in the array are kept aside);
- ``400`` — the body is not a JSON array (stored as one rejected record; do not retry);
- ``413`` — body over the limit (checked while reading: a ``Content-Length`` over it is refused
  before reading, a chunked body once its chunks add up to more); ``411`` — neither a
  ``Content-Length`` nor chunked; ``400`` — a malformed ``Content-Length`` or chunk;
  ``415`` — a ``Content-Encoding`` (compressed bodies are not supported);
  ``404``/``405`` — wrong path or method;
- ``503`` — the store failed or timed out: nothing was stored, retry later.

``GET /v1/health`` answers ``200 {"ok": true, ...counts}`` while the collector stores, and
``503 {"ok": false, "error": ...}`` once it stopped (disk full, I/O error; the collector process
then exits non-zero). HTTP/1.1 keep-alive is supported; a connection idle for
:data:`READ_TIMEOUT` seconds mid-request is closed.
Binds to 127.0.0.1 by default; it has no authentication, so do not expose it.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nodered_causal.collector.writer import Writer
from nodered_causal.errors import StoreError, TransportError
from nodered_causal.tap.records import MAX_BATCH_BYTES

__all__ = ["MAX_BODY", "READ_TIMEOUT", "HttpIngest", "parse_address"]

logger = logging.getLogger(__name__)

#: Largest accepted request body (bytes): the largest batch the writer parses.
MAX_BODY = MAX_BATCH_BYTES
#: Seconds a connection may stall while sending a request.
READ_TIMEOUT = 60.0
RECORDS_PATH = "/v1/records"
_DIGITS = re.compile(rb"[0-9]{1,19}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_LINE = 4096  # longest chunk-size or trailer line


class _Refused(Exception):
    """A request refused while reading it: status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
    timeout = READ_TIMEOUT
    # headers and body are two writes: with Nagle on, a keep-alive client's delayed ACK held
    # every answer back ~40 ms
    disable_nagle_algorithm = True
    server_version = "nodered-causal-collector"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?", 1)[0] != RECORDS_PATH:
            self._reply(404, {"error": f"POST batches to {RECORDS_PATH}"})
            return
        try:
            body = self._read_body()
        except _Refused as refused:
            self._reply(refused.status, {"error": str(refused)}, close=True)
            self._linger()
            return
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

    def _read_body(self) -> bytes:
        """The request body, never reading more than MAX_BODY (+ one chunk header)."""
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise _Refused(415, f"Content-Encoding {encoding[:40]!r} is not supported")
        transfer = self.headers.get("Transfer-Encoding")
        if transfer is not None:
            if transfer.strip().lower() != "chunked":
                raise _Refused(501, f"Transfer-Encoding {transfer[:40]!r} is not supported")
            return self._read_chunked()
        text = self.headers.get("Content-Length")
        if text is None:
            raise _Refused(411, "Content-Length required (or Transfer-Encoding: chunked)")
        if not _DIGITS.fullmatch(text.strip().encode("latin-1", "replace")):
            raise _Refused(400, f"bad Content-Length {text[:40]!r}")
        length = int(text)
        if length > MAX_BODY:
            raise _Refused(413, f"body over {MAX_BODY} bytes")
        return self._read_exactly(length)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_LINE)
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _HEX.fullmatch(size_text):
                raise _Refused(400, "bad chunk size line")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise _Refused(413, f"body over {MAX_BODY} bytes")
            parts.append(self._read_exactly(size))
            if self.rfile.readline(_LINE).strip():
                raise _Refused(400, "chunk data longer than its size")
        for _ in range(100):  # trailer lines, then the empty line
            if not self.rfile.readline(_LINE).strip():
                return b"".join(parts)
        raise _Refused(400, "too many trailer lines")

    def _read_exactly(self, length: int) -> bytes:
        data = self.rfile.read(length)
        if len(data) < length:
            raise _Refused(400, f"body ended after {len(data)} of {length} bytes")
        return data

    def _linger(self) -> None:
        """After refusing a request mid-body: let the client read the answer before the close
        (closing with unread data resets the connection and may discard the answer)."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            for _ in range(64):  # at most 4 MiB, at most ~0.5 s per read
                if not self.connection.recv(65536):
                    break
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/v1/health":
            self._reply(404, {"error": "not found"})
            return
        writer = self.ingest.writer
        counts = writer.counts()
        if writer.healthy:
            self._reply(200, {"ok": True, **counts.__dict__})
        else:
            error = str(writer.error or "the writer thread is gone")
            self._reply(503, {"ok": False, "error": error, **counts.__dict__})

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
