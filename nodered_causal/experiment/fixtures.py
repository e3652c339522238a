"""Local stand-ins for the outside world a bundled flow talks to, started by our code.

``flows/quake-dashboard.json`` polls an earthquake feed shaped like the USGS GeoJSON summary feed
(``https://earthquake.usgs.gov/earthquakes/feed/v1.0/summary/all_hour.geojson``).
:class:`QuakeFeed` serves one on 127.0.0.1 with seeded random quakes, so runs are reproducible
and need no network. :func:`flow_fixtures` starts what a flow file needs and yields the
environment variables that point the flow at it (for the Node-RED process)::

    with flow_fixtures("flows/quake-dashboard.json") as env, LocalNodeRed(flows=..., env=env):
        ...

.. envvar:: NODERED_CAUSAL_FLOW_QUAKE_FEED

   URL the quake flow polls. When set, :func:`flow_fixtures` starts no feed and the flow uses
   this one (a real USGS feed works too).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nodered_causal import config

__all__ = ["QUAKE_FEED_ENV", "QUAKE_FEED_PATH", "QuakeFeed", "flow_fixtures", "quake_features"]

logger = logging.getLogger(__name__)

QUAKE_FEED_ENV = config.FLOW_QUAKE_FEED.name
QUAKE_FEED_PATH = "/earthquakes/feed/v1.0/summary/all_hour.geojson"
_REGIONS = (
    ("Puerto Rico region", 18.2, -66.5),
    ("Hispaniola", 19.0, -71.0),
    ("Central Alaska", 63.1, -150.4),
    ("Southern California", 34.0, -117.5),
    ("Japan, near east coast of Honshu", 38.3, 142.4),
    ("Central Chile", -33.4, -71.6),
)


def quake_features(rng: random.Random, now_ms: int, n: int) -> list[dict[str, Any]]:
    """``n`` USGS-like GeoJSON features: magnitude ~ Gutenberg-Richter above 1.0 (exponential,
    b = 1), depth log-normal, in one of a few seismic regions, in the last hour."""
    features = []
    for _ in range(n):
        place, lat, lon = _REGIONS[rng.randrange(len(_REGIONS))]
        mag = round(min(1.0 + rng.expovariate(math.log(10)), 8.5), 2)
        depth = round(min(rng.lognormvariate(2.5, 0.8), 650.0), 2)
        when = now_ms - rng.randrange(3_600_000)
        quake_id = f"nc{rng.randrange(10**8):08d}"
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "mag": mag,
                    "place": f"{rng.randrange(2, 80)} km of {place}",
                    "time": when,
                    "updated": when + rng.randrange(60_000),
                    "tsunami": 0,
                    "sig": round(mag * 100),
                    "magType": "ml" if mag < 4 else "mb",
                    "type": "earthquake",
                    "title": f"M {mag:.1f} - {place}",
                },
                "geometry": {
                    "type": "Point",
                    "coordinates": [
                        round(lon + rng.uniform(-1, 1), 4),
                        round(lat + rng.uniform(-1, 1), 4),
                        depth,
                    ],
                },
                "id": quake_id,
            }
        )
    return features


class QuakeFeed:
    """A USGS-GeoJSON-like feed on ``127.0.0.1`` (a free port): each GET of
    :data:`QUAKE_FEED_PATH` answers the next seeded draw of 2..8 quakes. Use as a context
    manager; ``url`` is the feed's URL, ``requests`` counts the answers."""

    def __init__(self, seed: int = 1, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests = 0
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.split("?", 1)[0] != QUAKE_FEED_PATH:
                    self.send_error(404)
                    return
                body = json.dumps(feed.next_document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/geo+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                logger.debug("quake feed: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_address[1]}{QUAKE_FEED_PATH}"

    def next_document(self) -> dict[str, Any]:
        now_ms = int(time.time() * 1000)
        with self._lock:
            self.requests += 1
            features = quake_features(self._rng, now_ms, self._rng.randint(2, 8))
        return {
            "type": "FeatureCollection",
            "metadata": {
                "generated": now_ms,
                "url": self.url,
                "title": "USGS All Earthquakes, Past Hour (nodered-causal fixture)",
                "status": 200,
                "api": "1.10.3",
                "count": len(features),
            },
            "features": features,
        }

    def __enter__(self) -> QuakeFeed:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="quake-feed", daemon=True
        )
        self._thread.start()
        logger.info("quake feed fixture at %s", self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextmanager
def flow_fixtures(flow: str | Path | None, *, seed: int = 1) -> Iterator[dict[str, str]]:
    """Start the fixtures ``flow`` (a flow file) needs and yield the environment variables for
    its Node-RED process: a :class:`QuakeFeed` for a flow that reads
    :envvar:`NODERED_CAUSAL_FLOW_QUAKE_FEED`, unless that variable is set already."""
    needs_feed = False
    if flow is not None and str(flow) != "-":
        try:
            needs_feed = QUAKE_FEED_ENV in Path(flow).read_text(errors="replace")
        except OSError:
            needs_feed = False
    if not needs_feed or os.environ.get(QUAKE_FEED_ENV):
        yield {}
        return
    with QuakeFeed(seed) as feed:
        yield {QUAKE_FEED_ENV: feed.url}
