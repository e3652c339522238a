"""The demo stack's configuration, run natively (there is no Docker engine here).

docker/mosquitto/mosquitto.conf in a local Mosquitto (own port and data directory): a persistent
QoS 1 session keeps a backlog far above Mosquitto's default limit of 1000, across a broker
restart; with the limit line removed the same test loses messages, so the setting is what works.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "docker" / "mosquitto" / "mosquitto.conf"
BACKLOG = 3000

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_conf(tmp: Path, port: int, *, drop: str | None = None) -> Path:
    """The stack's config with the listener and data directory moved to this machine."""
    lines = []
    for line in CONF.read_text().splitlines():
        if line.startswith("listener "):
            line = f"listener {port} 127.0.0.1"
        elif line.startswith("persistence_location "):
            line = f"persistence_location {tmp}/"
        elif drop and line.startswith(drop):
            continue
        lines.append(line)
    lines.append(f"user {getpass.getuser()}")  # as root, mosquitto would switch to `mosquitto`
    path = tmp / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def _mosquitto(conf: Path, port: int) -> Iterator[None]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    log = open(conf.parent / "mosquitto.log", "a")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((conf.parent / "mosquitto.log").read_text()) from None
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()  # SIGTERM: mosquitto saves its persistence file
        proc.wait(10)
        log.close()


def _client(client_id: str, port: int, on_message=None):  # type: ignore[no-untyped-def]
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
    )
    if on_message is not None:
        client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _backlog_delivered(tmp: Path, *, drop: str | None = None) -> int:
    """Queue BACKLOG QoS 1 messages for an offline persistent subscriber, restart the broker,
    reconnect the subscriber: how many arrive."""
    port = _free_port()
    conf = _local_conf(tmp, port, drop=drop)
    topic = f"nrc-test-{uuid.uuid4().hex[:12]}/records"
    sub_id = f"nrc-collector-{uuid.uuid4().hex[:8]}"
    with _mosquitto(conf, port):
        sub = _client(sub_id, port)
        sub.subscribe(topic, qos=1)
        time.sleep(0.3)
        sub.disconnect()
        sub.loop_stop()
        pub = _client(f"nrc-tap-{uuid.uuid4().hex[:8]}", port)
        infos = [pub.publish(topic, f"{i}", qos=1) for i in range(BACKLOG)]
        for info in infos:
            info.wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
    got: set[int] = set()
    done = threading.Event()

    def on_message(_c, _u, msg):  # type: ignore[no-untyped-def]
        got.add(int(msg.payload))
        if len(got) == BACKLOG:
            done.set()

    with _mosquitto(conf, port):
        sub = _client(sub_id, port, on_message)
        deadline, seen = time.monotonic() + 20, -1
        while not done.wait(1.0) and len(got) != seen and time.monotonic() < deadline:
            seen = len(got)  # stop once nothing arrived for a second
        time.sleep(0.3)  # anything beyond the backlog would show up now
        sub.disconnect()
        sub.loop_stop()
    return len(got)


def test_mosquitto_conf_keeps_a_large_qos1_backlog_across_restarts(tmp_path: Path) -> None:
    assert _backlog_delivered(tmp_path) == BACKLOG


def test_without_the_raised_limit_the_backlog_is_cut(tmp_path: Path) -> None:
    delivered = _backlog_delivered(tmp_path, drop="max_queued_messages")
    assert 900 <= delivered <= 1200  # Mosquitto's default 1000 (+ in-flight)
