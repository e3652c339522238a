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
 */

const { FaultError } = require("./faults");

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
    const status = err instanceof FaultError ? err.status : 500;
    res.status(status).json({ error: err && err.message ? err.message : String(err) });
}

/**
 * @param {object} RED the plugin's RED API
 * @param {() => object} stats returns the stats document
 * @param {object|null} faults a Faults instance, or null when fault injection is switched off
 */
function mountAdmin(RED, stats, faults) {
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
}

module.exports = { mountAdmin, readJson };
