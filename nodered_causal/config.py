"""The one list of environment variables nodered-causal and its deployment read.

Every name is a documented :class:`EnvVar` constant here and nowhere else (OpenTelemetry's
``environment_variables`` module is the model). Precedence everywhere: an explicit argument, then
the environment variable, then the default. ``docker-compose.yml``, ``docker/`` and the bundled
flows use exactly these names; ``tests/unit/test_compose.py`` checks that.

Who reads what (``EnvVar.reader``):

- ``cli``: the Python package (CLI defaults, collector, demo).
- ``plugin``: the tap plugin in ``plugin/`` (``plugin/lib/config.js``: its ``causalTap`` settings
  block wins over these, except that ``NODERED_CAUSAL_TAP_ENABLED=false`` always turns it off).
- ``flows``: the bundled flows in ``flows/`` (Node-RED ``${VAR}`` substitution, ``env.get``).
- ``docker``: the stack's scripts in ``docker/`` only.

.. envvar:: NODERED_CAUSAL_CACHE

   Cache root for Node-RED and Node.js installs (default ``~/.cache/nodered-causal``).

.. envvar:: NODERED_CAUSAL_NODERED_URL

   Admin API URL of the Node-RED instance to analyse (default ``http://127.0.0.1:1880``): the
   ``--url`` default of every command that talks to a running Node-RED; ``graph`` and
   ``experiment`` use it when given no flow file (the demo starts its own unless ``--url``).

.. envvar:: NODERED_CAUSAL_NODERED_TOKEN

   Admin API bearer token, when the instance has adminAuth on.

.. envvar:: NODERED_CAUSAL_NODERED_USERNAME

   Admin API user name (with ``NODERED_CAUSAL_NODERED_PASSWORD``; the CLI logs in for a token).

.. envvar:: NODERED_CAUSAL_NODERED_PASSWORD

   Admin API password. Prefer this variable to ``--password``, which shells keep in history.

.. envvar:: NODERED_CAUSAL_MQTT_URL

   Broker the collector subscribes to for tap records (default ``mqtt://127.0.0.1:1883``):
   ``collect`` and ``record`` subscribe there when given neither ``--mqtt URL`` nor ``--http``;
   a bare ``--mqtt`` (any command) means this broker.

.. envvar:: NODERED_CAUSAL_HTTP_ADDR

   ``host:port`` the HTTP collector listens on for a bare ``--http`` (default ``127.0.0.1:8765``).

.. envvar:: NODERED_CAUSAL_STORE

   Path of the record store file, the ``--store`` default of every command (default ``runs.db``;
   the demo's is ``demo/runs.db``, an experiment's next to its ``-o`` output).

.. envvar:: NODERED_CAUSAL_REPORT_DIR

   Directory reports go to when no path is given: the demo's ``demo.html`` (default
   ``demo/report.html``) and a bare ``experiment --report`` (default: the current directory).

.. envvar:: NODERED_CAUSAL_REPORT_ADDR

   ``host:port`` the stack's analyzer serves the report directory on (default ``0.0.0.0:8080``,
   inside its container).

.. envvar:: NODERED_CAUSAL_DEMO_FLOW

   Bundled flow the demo runs, a file stem in ``flows/`` (default ``bottling-line``); also read
   by ``docker/nodered/start.sh`` to seed the stack's Node-RED.

.. envvar:: NODERED_CAUSAL_DEMO_TARGET

   Node id the demo attributes (default: the flow's target listed in ``flows/README.md``).

.. envvar:: NODERED_CAUSAL_SEED

   Seed of the demo and experiments (default ``1``).

.. envvar:: NODERED_CAUSAL_TAP_ENABLED

   ``false`` (or ``0``/``no``/``off``) switches the tap plugin off (default ``true``).

.. envvar:: NODERED_CAUSAL_TAP_INSTANCE

   Tap instance name, the ``<tap>`` in ``nodered-causal/<tap>/records`` (default
   ``<hostname>-<uiPort>``).

.. envvar:: NODERED_CAUSAL_TAP_TRANSPORT

   ``mqtt`` or ``http`` (default ``mqtt``).

.. envvar:: NODERED_CAUSAL_TAP_URL

   Where the tap ships records: a broker ``mqtt://host:1883`` or a collector ``http://host:8765``
   (default ``mqtt://127.0.0.1:1883`` or ``http://127.0.0.1:8765`` by transport).

.. envvar:: NODERED_CAUSAL_TAP_TOPIC

   MQTT topic of the records (default ``nodered-causal/<instance>/records``).

.. envvar:: NODERED_CAUSAL_TAP_BATCH_SIZE

   Records per batch (default ``500``).

.. envvar:: NODERED_CAUSAL_TAP_FLUSH_MS

   Flush interval of a partial batch in ms (default ``200``).

.. envvar:: NODERED_CAUSAL_TAP_QUEUE_MAX

   Bounded queue length; beyond it the oldest records are dropped and counted (default ``50000``).

.. envvar:: NODERED_CAUSAL_TAP_LINEAGE

   ``false`` turns off lineage (``trace``/``parent``), which costs the most (default ``true``).

.. envvar:: NODERED_CAUSAL_TAP_SAMPLE

   Record whole traces of this fraction of the messages (``0.1``), every delivery still counted
   (``counts`` records); ``adaptive`` holds a CPU budget instead (default ``1``: everything).

.. envvar:: NODERED_CAUSAL_FLOW_MQTT_BROKER

   Broker host of the bundled MQTT flow (default ``127.0.0.1``).

.. envvar:: NODERED_CAUSAL_FLOW_MQTT_PREFIX

   Topic prefix of the bundled MQTT flow (default ``nodered-causal/demo``); tests set a unique one.

.. envvar:: NODERED_CAUSAL_FLOW_SEED

   Seed of the bundled flows' noise generators (default ``1``).

.. envvar:: NODERED_CAUSAL_FLOW_QUAKE_FEED

   Feed URL the bundled quake dashboard flow polls; when unset, the commands that run the flow
   start a local seeded fixture feed and set it (``nodered_causal/experiment/fixtures.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CACHE",
    "DEMO_FLOW",
    "DEMO_TARGET",
    "ENV_VARS",
    "FLOW_MQTT_BROKER",
    "FLOW_MQTT_PREFIX",
    "FLOW_QUAKE_FEED",
    "FLOW_SEED",
    "HTTP_ADDR",
    "MQTT_URL",
    "NODERED_PASSWORD",
    "NODERED_TOKEN",
    "NODERED_URL",
    "NODERED_USERNAME",
    "PREFIX",
    "REPORT_ADDR",
    "REPORT_DIR",
    "SEED",
    "STORE",
    "TAP_BATCH_SIZE",
    "TAP_ENABLED",
    "TAP_FLUSH_MS",
    "TAP_INSTANCE",
    "TAP_LINEAGE",
    "TAP_QUEUE_MAX",
    "TAP_SAMPLE",
    "TAP_TOPIC",
    "TAP_TRANSPORT",
    "TAP_URL",
    "EnvVar",
    "env_var",
]

#: Every variable name starts with this.
PREFIX = "NODERED_CAUSAL_"

Reader = Literal["cli", "plugin", "flows", "docker"]


@dataclass(frozen=True)
class EnvVar:
    """One documented environment variable: its name, default and who reads it."""

    name: str
    default: str | None
    reader: Reader
    doc: str

    def __post_init__(self) -> None:
        if not self.name.startswith(PREFIX):
            raise ValueError(f"env var name {self.name!r} must start with {PREFIX!r}")

    def get(
        self, explicit: str | None = None, *, environ: Mapping[str, str] | None = None
    ) -> str | None:
        """``explicit`` if given, else the (non-empty) environment value, else the default."""
        if explicit is not None:
            return explicit
        value = (os.environ if environ is None else environ).get(self.name)
        return value if value else self.default


CACHE = EnvVar("NODERED_CAUSAL_CACHE", None, "cli", "cache root for Node-RED/Node.js installs")
NODERED_URL = EnvVar(
    "NODERED_CAUSAL_NODERED_URL", "http://127.0.0.1:1880", "cli", "Node-RED admin API URL"
)
NODERED_TOKEN = EnvVar("NODERED_CAUSAL_NODERED_TOKEN", None, "cli", "Admin API bearer token")
NODERED_USERNAME = EnvVar("NODERED_CAUSAL_NODERED_USERNAME", None, "cli", "Admin API user")
NODERED_PASSWORD = EnvVar("NODERED_CAUSAL_NODERED_PASSWORD", None, "cli", "Admin API password")
MQTT_URL = EnvVar(
    "NODERED_CAUSAL_MQTT_URL", "mqtt://127.0.0.1:1883", "cli", "broker the collector reads"
)
HTTP_ADDR = EnvVar("NODERED_CAUSAL_HTTP_ADDR", "127.0.0.1:8765", "cli", "HTTP collector address")
STORE = EnvVar("NODERED_CAUSAL_STORE", "runs.db", "cli", "record store file")
REPORT_DIR = EnvVar("NODERED_CAUSAL_REPORT_DIR", None, "cli", "report output directory")
REPORT_ADDR = EnvVar("NODERED_CAUSAL_REPORT_ADDR", "0.0.0.0:8080", "docker", "report server")
DEMO_FLOW = EnvVar("NODERED_CAUSAL_DEMO_FLOW", "bottling-line", "cli", "bundled flow of the demo")
DEMO_TARGET = EnvVar("NODERED_CAUSAL_DEMO_TARGET", None, "cli", "node id the demo attributes")
SEED = EnvVar("NODERED_CAUSAL_SEED", "1", "cli", "seed of the demo and experiments")
TAP_ENABLED = EnvVar("NODERED_CAUSAL_TAP_ENABLED", "true", "plugin", "tap on/off switch")
TAP_INSTANCE = EnvVar("NODERED_CAUSAL_TAP_INSTANCE", None, "plugin", "tap instance name")
TAP_TRANSPORT = EnvVar("NODERED_CAUSAL_TAP_TRANSPORT", "mqtt", "plugin", "mqtt or http")
TAP_URL = EnvVar("NODERED_CAUSAL_TAP_URL", None, "plugin", "where the tap ships records")
TAP_TOPIC = EnvVar("NODERED_CAUSAL_TAP_TOPIC", None, "plugin", "MQTT topic of the records")
TAP_BATCH_SIZE = EnvVar("NODERED_CAUSAL_TAP_BATCH_SIZE", "500", "plugin", "records per batch")
TAP_FLUSH_MS = EnvVar("NODERED_CAUSAL_TAP_FLUSH_MS", "200", "plugin", "partial batch flush ms")
TAP_QUEUE_MAX = EnvVar("NODERED_CAUSAL_TAP_QUEUE_MAX", "50000", "plugin", "bounded queue length")
TAP_LINEAGE = EnvVar("NODERED_CAUSAL_TAP_LINEAGE", "true", "plugin", "lineage on/off")
TAP_SAMPLE = EnvVar("NODERED_CAUSAL_TAP_SAMPLE", "1", "plugin", "sampled fraction or adaptive")
FLOW_MQTT_BROKER = EnvVar(
    "NODERED_CAUSAL_FLOW_MQTT_BROKER", "127.0.0.1", "flows", "broker host of the MQTT flow"
)
FLOW_MQTT_PREFIX = EnvVar(
    "NODERED_CAUSAL_FLOW_MQTT_PREFIX", "nodered-causal/demo", "flows", "MQTT flow topic prefix"
)
FLOW_SEED = EnvVar("NODERED_CAUSAL_FLOW_SEED", "1", "flows", "seed of the flows' noise")
FLOW_QUAKE_FEED = EnvVar(
    "NODERED_CAUSAL_FLOW_QUAKE_FEED", None, "flows", "feed URL of the quake dashboard flow"
)

#: All variables by name.
ENV_VARS: Mapping[str, EnvVar] = {
    v.name: v
    for v in (
        CACHE,
        NODERED_URL,
        NODERED_TOKEN,
        NODERED_USERNAME,
        NODERED_PASSWORD,
        MQTT_URL,
        HTTP_ADDR,
        STORE,
        REPORT_DIR,
        REPORT_ADDR,
        DEMO_FLOW,
        DEMO_TARGET,
        SEED,
        TAP_ENABLED,
        TAP_INSTANCE,
        TAP_TRANSPORT,
        TAP_URL,
        TAP_TOPIC,
        TAP_BATCH_SIZE,
        TAP_FLUSH_MS,
        TAP_QUEUE_MAX,
        TAP_LINEAGE,
        TAP_SAMPLE,
        FLOW_MQTT_BROKER,
        FLOW_MQTT_PREFIX,
        FLOW_SEED,
        FLOW_QUAKE_FEED,
    )
}


def env_var(name: str) -> EnvVar:
    """The documented variable called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return ENV_VARS[name]
    except KeyError:
        known = ", ".join(sorted(ENV_VARS))
        raise KeyError(f"undocumented env var {name!r}; known: {known}") from None
