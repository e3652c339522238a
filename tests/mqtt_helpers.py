"""MQTT helpers for the collector tests: a private Mosquitto, a publisher, session cleanup."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

SHARED_BROKER = ("127.0.0.1", 1883)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Mosquitto:
    """A private broker on a free port with ``extra_config`` lines, which a test can kill and
    start again on the same port."""

    def __init__(self, tmp: Path, extra_config: str = "", *, persistence: bool = False) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.conf = tmp / f"mosquitto-{self.port}.conf"
        self.extra_config = extra_config
        self.configure(persistence=persistence)
        self.log_path = tmp / f"mosquitto-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def configure(self, *, persistence: bool) -> None:
        """Write the config (read at the next start): with ``persistence``, sessions and queued
        messages are saved every second and on a clean stop."""
        saved = (  # user root: started as root, it would write as "mosquitto" (no access here)
            f"user root\npersistence true\npersistence_location {self.tmp}/\n"
            "autosave_interval 1\n"
            f"persistence_file mosquitto-{self.port}.db\n"
            if persistence
            else "persistence false\n"
        )
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{saved}{self.extra_config}\n"
        )

    def start(self) -> Mosquitto:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with self.log_path.open("a") as log:
            self.proc = subprocess.Popen(
                [binary, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_port(self.port)
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def mosquitto(tmp: Path, extra_config: str = "") -> Iterator[int]:
    """A private broker on a free port with ``extra_config`` lines; yields its port."""
    broker = Mosquitto(tmp, extra_config)
    try:
        yield broker.start().port
    finally:
        broker.stop()


class Publisher:
    """A QoS 1 publisher that waits for every PUBACK."""

    def __init__(self, port: int = SHARED_BROKER[1]) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=paho.MQTTv311)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> paho.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=1)

    def publish_all(self, topic: str, payloads: list[bytes], timeout: float = 60.0) -> None:
        infos = [self.publish(topic, p) for p in payloads]
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            assert info.is_published(), "broker did not ack a publish"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def discard_session(client_id: str, port: int = SHARED_BROKER[1]) -> None:
    """Connect once with a clean session so the broker forgets ``client_id``'s queue."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


def spawn_collect(port: int, *args: str, json_report: bool = False) -> subprocess.Popen[str]:
    """``nodered-causal collect --mqtt mqtt://127.0.0.1:PORT ARGS`` as a user starts it (this
    checkout on PYTHONPATH); returns once it is subscribed (its first stderr line)."""
    import os
    import sys

    repo = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "nodered_causal", "collect"]
    command += ["--mqtt", f"mqtt://127.0.0.1:{port}", *args, "--status-every", "0"]
    proc = subprocess.Popen(
        command + (["--json"] if json_report else []),
        stdout=subprocess.PIPE if json_report else None,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "collecting run" not in line:
        proc.kill()
        raise RuntimeError(f"collect did not start: {line}{proc.stderr.read()}")
    return proc
