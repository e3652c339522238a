"""Push an answer to the Node-RED editor: the tap plugin's ``POST /causal-tap/results``.

The plugin keeps the latest results (bounded, in memory and in its userDir), shows them in the
editor's "causal" sidebar tab and serves each one's report under the admin root. Protocol (the
plugin's ``lib/results.js`` and README are the reference)::

    POST <admin root>/causal-tap/results          needs the permission causal-tap.write
    Content-Type: application/json
    {"answer": {<Answer.to_dict(), or at least id, kind, target, ranking, blamed>},
     "report_html": "<!DOCTYPE html>..."}          # optional, at most 4 MB
    -> 201 {"id": ..., "url": "causal-tap/results/<id>", "report": "causal-tap/results/<id>/report"
            | null, "created": true | false}
    -> 400 {"error": "..."} bad document; 401 without the permission; 413 too large

Posting the same ``id`` again replaces the stored result (an incident's ``open`` → ``update`` →
``closed`` transitions keep one entry; the plugin keeps their history).

``watch``'s incident documents go, as they are, to ``POST <admin root>/causal-tap/incidents``
(same permission): ``{"id", "state": "open" | "update" | "closed", "target", "target_name",
"detected_at", "changed_at", "ranking": [{node, name, score, low, high, blamed}], "blamed",
"verdict", "series": {"signal", "t_ns": [...], "values": [...], "changed_ns"}, ...}``; the plugin
stores each as a result of kind ``incident`` (its series split at ``changed_ns`` into before and
after) and answers as above.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from nodered_causal.errors import TapError

if TYPE_CHECKING:
    from nodered_causal.nodered.client import NodeRedClient
    from nodered_causal.report.answer import Answer

__all__ = ["RESULTS_PATH", "push_answer"]

logger = logging.getLogger(__name__)

#: The plugin's endpoint, below the Admin API root.
RESULTS_PATH = "/causal-tap/results"


def push_answer(
    client: NodeRedClient, answer: Answer | dict[str, Any], report_html: str | None = None
) -> dict[str, Any]:
    """Send ``answer`` (and its report page) to the editor of ``client``'s Node-RED; returns the
    plugin's answer (``id``, ``url``, ``report``). :class:`TapError` when the instance has no
    (recent enough) tap plugin or refuses the document; :class:`AuthError` without permission."""
    doc = answer if isinstance(answer, dict) else answer.to_dict()
    body: dict[str, Any] = {"answer": doc}
    if report_html is not None:
        body["report_html"] = report_html
    action = f"push result {doc.get('id')} to the editor"
    status, reply = client.request_json(
        "POST", RESULTS_PATH, action=action, body=body, ok=(400, 404, 413)
    )
    if status == 404:
        raise TapError(
            f"{action}: {client.url} has no {RESULTS_PATH} endpoint: install the causal-tap "
            "plugin that keeps results (nodered-causal tap install)"
        )
    if status in (400, 413):
        detail = reply.get("error") if isinstance(reply, dict) else None
        raise TapError(f"{action}: {client.url} refused it (HTTP {status}): {detail}")
    logger.info("pushed %s to %s", doc.get("id"), client.url)
    return reply if isinstance(reply, dict) else {}
