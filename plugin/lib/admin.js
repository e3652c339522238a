"use strict";
/**
 * Admin HTTP endpoints, mounted on RED.httpAdmin (below httpAdminRoot) and protected like the
 * Admin API with RED.auth.needsPermission ("causal-tap.read" for GET, "causal-tap.write" for
 * POST/DELETE; a user with scope "*" or "read"/"write" has them):
 *
 *   GET    /causal-tap/stats          counters, transport state, config without secrets
 *   GET    /causal-tap/faults         {"faults": [...]}
 *   POST   /causal-tap/faults         body {node, kind, value, field, probability, seed}
 *                                     -> 201 {"fault": {...}}; 400 bad spec; 404 unknown node
 *   DELETE /causal-tap/faults         remove all -> {"removed": [...]}
 *   DELETE /causal-tap/faults/:node   remove one -> {"removed": [...]}; 404 if none
 *
 *   GET    /causal-tap/results               {"results": [summary, ...] newest first, "status"}
 *   POST   /causal-tap/results               body {"answer": {...}, "report_html": "..."} (see
 *                                            results.js) -> 201 {id, url, report, created};
 *                                            400 bad document; 413 too large
 *   POST   /causal-tap/incidents             body: watch's incident document itself (state open |
 *                                            update | closed) -> as POST /causal-tap/results
 *   GET    /causal-tap/results/:id           the stored entry {id, answer, history, ...}
 *   DELETE /causal-tap/results[/:id]         forget all / one -> {"removed": [...]}
 *   POST   /causal-tap/results/:id/ticket    (read) -> {"url": ".../report?ticket=..."}: a link
 *                                            that opens the report for 5 minutes without the
 *                                            bearer header (a browser tab cannot send one)
 *   GET    /causal-tap/results/:id/report    the report page (read permission or a ticket),
 *                                            sandboxed by its Content-Security-Policy
 */

const crypto = require("crypto");
const { FaultError } = require("./faults");
const { ResultError, fromIncident } = require("./results");

const MAX_BODY = 64 * 1024;

function readJson(req) {
    if (req.body !== undefined && typeof req.body === "object" && !Buffer.isBuffer(req.body)) {
        return Promise.resolve(req.body);
    }
    return new Promise((resolve, reject) => {
        let size = 0;
        const chunks = [];
        req.on("data", (c) => {
            size += c.length;
            if (size > MAX_BODY) {
                reject(new FaultError("request body too large"));
                req.destroy();
                return;
            }
            chunks.push(c);
        });
        req.on("end", () => {
            try {
                resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {});
            } catch (_err) {
                reject(new FaultError("request body is not valid JSON"));
            }
        });
        req.on("error", reject);
    });
}

function sendError(res, err) {
    const status = err instanceof FaultError || err instanceof ResultError ? err.status : 500;
    res.status(status).json({ error: err && err.message ? err.message : String(err) });
}

const TICKET_MS = 5 * 60 * 1000;
const MAX_TICKETS = 200;
// the report runs in an opaque origin: no access to the editor's storage (its auth token)
const REPORT_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy":
        "sandbox allow-scripts allow-popups; default-src 'none'; style-src 'unsafe-inline'; " +
        "script-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
};

/** Short-lived links to one result's report, for browser tabs that carry no bearer token. */
class Tickets {
    constructor(now) {
        this.now = now || Date.now;
        this.byKey = new Map();
    }
    issue(id) {
        const now = this.now();
        for (const [key, t] of this.byKey) if (t.expires <= now || this.byKey.size >= MAX_TICKETS) this.byKey.delete(key);
        const key = crypto.randomBytes(18).toString("base64url");
        this.byKey.set(key, { id, expires: now + TICKET_MS });
        return key;
    }
    valid(key, id) {
        const t = typeof key === "string" ? this.byKey.get(key) : undefined;
        return !!t && t.id === id && t.expires > this.now();
    }
}

function resultUrls(id, hasReport) {
    const url = `causal-tap/results/${encodeURIComponent(id)}`;
    return { url, report: hasReport ? `${url}/report` : null };
}

function mountResults(app, read, write, results, onPosted) {
    const tickets = new Tickets();
    const missing = (res, id) => res.status(404).json({ error: `no result with id ${JSON.stringify(id)}` });
    app.get("/causal-tap/results", read, (_req, res) => {
        res.json({ results: results.list(), status: results.status() });
    });
    const store = (toBody) => (req, res) => {
        readJson(req)
            .then((body) => results.put(toBody(body)))
            .then(({ entry, created }) => {
                onPosted(entry, created);
                res.status(201).json(Object.assign({ id: entry.id, created }, resultUrls(entry.id, entry.has_report)));
            })
            .catch((err) => sendError(res, err));
    };
    app.post("/causal-tap/results", write, store((body) => body));
    app.post("/causal-tap/incidents", write, store(fromIncident));
    app.delete("/causal-tap/results", write, (_req, res) => {
        results.remove().then((removed) => {
            onPosted(null, false);
            res.json({ removed });
        }, (err) => sendError(res, err));
    });
    app.get("/causal-tap/results/:id", read, (req, res) => {
        const entry = results.get(req.params.id);
        if (!entry) return missing(res, req.params.id);
        res.json(Object.assign({}, entry, resultUrls(entry.id, entry.has_report)));
    });
    app.delete("/causal-tap/results/:id", write, (req, res) => {
        if (!results.get(req.params.id)) return missing(res, req.params.id);
        results.remove(req.params.id).then((removed) => {
            onPosted(null, false);
            res.json({ removed });
        }, (err) => sendError(res, err));
    });
    app.post("/causal-tap/results/:id/ticket", read, (req, res) => {
        const entry = results.get(req.params.id);
        if (!entry || !entry.has_report) return missing(res, req.params.id);
        const key = tickets.issue(entry.id);
        res.json({ url: `${resultUrls(entry.id, true).report}?ticket=${key}`, expires_in_s: TICKET_MS / 1000 });
    });
    const readOrTicket = (req, res, next) => {
        if (tickets.valid(req.query && req.query.ticket, req.params.id)) return next();
        return read(req, res, next);
    };
    app.get("/causal-tap/results/:id/report", readOrTicket, (req, res) => {
        results.report(req.params.id).then((html) => {
            if (html === null) return missing(res, req.params.id);
            res.set(REPORT_HEADERS).send(html);
        }, (err) => sendError(res, err));
    });
}

/**
 * @param {object} RED the plugin's RED API
 * @param {() => object} stats returns the stats document
 * @param {object|null} faults a Faults instance, or null when fault injection is switched off
 * @param {object|null} results a Results instance (null: no results endpoints)
 * @param {(entry, created) => void} onPosted called after a result was stored or removed
 */
function mountAdmin(RED, stats, faults, results, onPosted) {
    const app = RED.httpAdmin;
    if (!app) return;
    const read = RED.auth.needsPermission("causal-tap.read");
    const write = RED.auth.needsPermission("causal-tap.write");
    const noFaults = (res) => res.status(404).json({ error: "fault injection is disabled (causalTap.faults: false)" });

    app.get("/causal-tap/stats", read, (_req, res) => {
        try {
            res.json(stats());
        } catch (err) {
            sendError(res, err);
        }
    });
    app.get("/causal-tap/faults", read, (_req, res) => {
        if (!faults) return noFaults(res);
        res.json({ faults: faults.list() });
    });
    app.post("/causal-tap/faults", write, (req, res) => {
        if (!faults) return noFaults(res);
        readJson(req)
            .then((body) => res.status(201).json({ fault: faults.add(body) }))
            .catch((err) => sendError(res, err));
    });
    app.delete("/causal-tap/faults", write, (_req, res) => {
        if (!faults) return noFaults(res);
        try {
            res.json({ removed: faults.remove() });
        } catch (err) {
            sendError(res, err);
        }
    });
    app.delete("/causal-tap/faults/:node", write, (req, res) => {
        if (!faults) return noFaults(res);
        try {
            const removed = faults.remove(req.params.node);
            if (removed.length === 0) {
                res.status(404).json({ error: `no fault on node ${JSON.stringify(req.params.node)}` });
            } else {
                res.json({ removed });
            }
        } catch (err) {
            sendError(res, err);
        }
    });
    if (results) mountResults(app, read, write, results, onPosted || (() => {}));
}

module.exports = { mountAdmin, readJson, Tickets };
