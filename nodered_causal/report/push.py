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
(same permission; :func:`push_incident` does it, with the same errors as :func:`push_answer`):
``{"id", "state": "open" | "update" | "closed", "target", "target_name",
"detected_at", "changed_at", "ranking": [{node, name, score, low, high, blamed}], "blamed",
"verdict", "series": {"signal", "t_ns": [...], "values": [...], "changed_ns"}, ...}``; the plugin
stores each as a result of kind ``incident`` (its series split at ``changed_ns`` into before and
after) and answers as above. An optional ``"report_html"`` key in the document is stored as the
incident's report (served by the plugin, linked from the sidebar); the newest transition's report
replaces the older one.

For ``watch``, per transition::

    from nodered_causal.nodered import NodeRedClient
    from nodered_causal.report.push import push_incident

    client = NodeRedClient(url, token=token)          # or username/password
    push_incident(client, incident_doc)               # {"id", "state", "target", ...}
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from nodered_causal.errors import TapError

if TYPE_CHECKING:
    from nodered_causal.nodered.client import NodeRedClient
    from nodered_causal.report.answer import Answer

__all__ = ["INCIDENTS_PATH", "RESULTS_PATH", "push_answer", "push_incident"]

logger = logging.getLogger(__name__)

#: The plugin's endpoint, below the Admin API root.
RESULTS_PATH = "/causal-tap/results"
#: The plugin's endpoint for ``watch``'s incident documents (same permission, same reply).
INCIDENTS_PATH = "/causal-tap/incidents"


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
    return _post(client, RESULTS_PATH, body, f"push result {doc.get('id')} to the editor")


def push_incident(
    client: NodeRedClient, incident: dict[str, Any], report_html: str | None = None
) -> dict[str, Any]:
    """Send one transition of ``watch``'s ``incident`` document (``id``, ``state`` open | update
    | closed, ``target``, ``ranking``, ``blamed``, ``series``, ...) as it is; posting the same
    ``id`` again updates the one entry in the editor. ``report_html``, when given, becomes the
    incident's report page. Returns and raises as :func:`push_answer`."""
    body = dict(incident)
    if report_html is not None:
        body["report_html"] = report_html
    action = f"push incident {incident.get('id')} ({incident.get('state')}) to the editor"
    return _post(client, INCIDENTS_PATH, body, action)


def _post(client: NodeRedClient, path: str, body: dict[str, Any], action: str) -> dict[str, Any]:
    status, reply = client.request_json("POST", path, action=action, body=body, ok=(400, 404, 413))
    if status == 404:
        raise TapError(
            f"{action}: {client.url} has no {path} endpoint: install the causal-tap "
            "plugin that keeps results (nodered-causal tap install)"
        )
    if status in (400, 413):
        detail = reply.get("error") if isinstance(reply, dict) else None
        raise TapError(f"{action}: {client.url} refused it (HTTP {status}): {detail}")
    logger.info("%s: done", action)
    return reply if isinstance(reply, dict) else {}
