"use strict";
/**
 * Results shown in the editor: answers pushed by nodered-causal (`attribute --push`,
 * `explain --push`, `experiment --push`, and every incident transition of `watch`), kept bounded,
 * in memory and in the userDir, so a reloaded editor (or a restarted Node-RED) sees the latest.
 *
 * A result is posted as `{"answer": {...}, "report_html": "<!DOCTYPE html>..."}` (report optional).
 * The answer is nodered-causal's Answer document (`nodered_causal/report/answer.py`); this module
 * needs only:
 *   id        [A-Za-z0-9][A-Za-z0-9._:-]{0,127} (generated when absent); posting an existing id
 *             replaces that result (an incident's open -> update -> closed keep one entry, with
 *             their history)
 *   kind      attribution | explanation | incident | experiment (default: incident when a
 *             state is given, else attribution)
 *   target    runtime id of the node the question is about
 *   ranking   [{node, name, score, low, high, share, share_low, share_high, blamed}, ...]
 *   blamed    [runtime id, ...]
 *   state     open | update | closed | null   (incidents)
 * and keeps every other field as given (title, verdict, series, facts, detected_at, ...).
 *
 * Storage: `<dir>/<id>.json` (the entry) and `<dir>/<id>.html` (the report), written atomically
 * (temp file + rename), mode 0644. When the directory cannot be written, results live in memory
 * only (reports up to MEMORY_REPORT_BYTES in total) and `persist_error` says why.
 */

const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const KINDS = ["attribution", "explanation", "incident", "experiment"];
const STATES = [null, "open", "update", "closed"];
const MAX_RANKING = 500;
const MAX_BLAMED = 100;
const MAX_HISTORY = 50;
const MAX_ANSWER_BYTES = 1024 * 1024;
const MAX_REPORT_BYTES = 4 * 1024 * 1024;
const MEMORY_REPORT_BYTES = 16 * 1024 * 1024;

class ResultError extends Error {
    constructor(message, status) {
        super(message);
        this.status = status || 400;
    }
}

function isNum(v) {
    return v === null || v === undefined || (typeof v === "number" && Number.isFinite(v));
}

/** Validate a posted body; returns {answer, report} or throws ResultError (400/413). */
function parseBody(body) {
    if (!body || typeof body !== "object" || Array.isArray(body)) {
        throw new ResultError('a result must be a JSON object {"answer": {...}, "report_html": "..."}');
    }
    const answer = body.answer;
    if (!answer || typeof answer !== "object" || Array.isArray(answer)) {
        throw new ResultError("answer must be a JSON object");
    }
    const report = body.report_html;
    if (report !== undefined && report !== null && typeof report !== "string") {
        throw new ResultError("report_html must be a string (an HTML page)");
    }
    if (report && Buffer.byteLength(report, "utf8") > MAX_REPORT_BYTES) {
        throw new ResultError(`report_html is larger than ${MAX_REPORT_BYTES} bytes`, 413);
    }
    const doc = Object.assign({}, answer);
    if (doc.kind === undefined) doc.kind = doc.state ? "incident" : "attribution";
    if (doc.id === undefined || doc.id === null) doc.id = newId(doc.kind);
    if (typeof doc.id !== "string" || !ID_RE.test(doc.id)) {
        throw new ResultError(`answer.id must match ${ID_RE}, got ${JSON.stringify(doc.id)}`);
    }
    if (!KINDS.includes(doc.kind)) {
        throw new ResultError(`answer.kind must be one of ${KINDS.join(", ")}, got ${JSON.stringify(doc.kind)}`);
    }
    if (typeof doc.target !== "string" || doc.target === "") {
        throw new ResultError("answer.target must be the runtime id of a node (string)");
    }
    if (doc.state === undefined) doc.state = null;
    if (!STATES.includes(doc.state)) {
        throw new ResultError(`answer.state must be open, update, closed or null, got ${JSON.stringify(doc.state)}`);
    }
    if (!Array.isArray(doc.ranking) || doc.ranking.length > MAX_RANKING) {
        throw new ResultError(`answer.ranking must be a list of at most ${MAX_RANKING} nodes`);
    }
    doc.ranking.forEach((r, i) => {
        if (!r || typeof r !== "object" || typeof r.node !== "string" || r.node === "") {
            throw new ResultError(`answer.ranking[${i}].node must be a runtime node id (string)`);
        }
        for (const key of ["score", "low", "high", "share", "share_low", "share_high"]) {
            if (!isNum(r[key])) throw new ResultError(`answer.ranking[${i}].${key} must be a number or null`);
        }
    });
    if (doc.blamed === undefined) doc.blamed = doc.ranking.filter((r) => r.blamed).map((r) => r.node);
    if (!Array.isArray(doc.blamed) || doc.blamed.length > MAX_BLAMED || !doc.blamed.every((b) => typeof b === "string")) {
        throw new ResultError(`answer.blamed must be a list of at most ${MAX_BLAMED} runtime node ids`);
    }
    if (Buffer.byteLength(JSON.stringify(doc), "utf8") > MAX_ANSWER_BYTES) {
        throw new ResultError(`answer is larger than ${MAX_ANSWER_BYTES} bytes`, 413);
    }
    return { answer: doc, report: report || null };
}

function newId(kind) {
    const k = KINDS.includes(kind) ? kind : "result";
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "");
    return `${k}-${stamp}-${crypto.randomBytes(3).toString("hex")}`;
}

/**
 * `watch`'s incident document as it is (POST /causal-tap/incidents: the body is the document,
 * `state` open | update | closed) as a result of kind incident. Its `series` ({signal, t_ns,
 * values, changed_ns}: the target's signal around the change) becomes the before/after series
 * the sidebar draws.
 */
function fromIncident(doc) {
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
        throw new ResultError("an incident must be a JSON object (watch's incident document)");
    }
    const answer = Object.assign({}, doc, { kind: "incident" });
    delete answer.report_html;
    if (answer.series && !Array.isArray(answer.series)) answer.series = incidentSeries(answer.series, doc);
    return { answer, report_html: typeof doc.report_html === "string" ? doc.report_html : undefined };
}

function incidentSeries(s, doc) {
    if (!s || !Array.isArray(s.t_ns) || !Array.isArray(s.values) || !s.t_ns.length) return [];
    const t0 = Number(s.t_ns[0]);
    const cut = s.changed_ns === null || s.changed_ns === undefined ? null : Number(s.changed_ns);
    const before = [];
    const after = [];
    s.t_ns.forEach((t, i) => {
        const x = (Number(t) - t0) / 1e9;
        const y = s.values[i];
        if (!Number.isFinite(x) || typeof y !== "number" || !Number.isFinite(y)) return;
        (cut !== null && Number(t) >= cut ? after : before).push([x, y]);
    });
    return [{
        node: doc.target,
        name: typeof doc.target_name === "string" ? doc.target_name : doc.target,
        what: typeof s.signal === "string" ? s.signal : "",
        before_label: "before the change",
        after_label: "since the change",
        before,
        after,
    }];
}

/** The short form sent to every editor (the full answer is fetched when selected). */
function summary(entry) {
    const a = entry.answer;
    const names = {};
    for (const r of a.ranking) names[r.node] = r.name || r.node;
    return {
        id: entry.id,
        kind: a.kind,
        title: typeof a.title === "string" ? a.title : "",
        verdict: typeof a.verdict === "string" ? a.verdict : "",
        target: a.target,
        target_name: typeof a.target_name === "string" ? a.target_name : a.target,
        state: a.state,
        blamed: a.blamed.slice(0, 10),
        blamed_names: a.blamed.slice(0, 10).map((b) => names[b] || b),
        created_at: a.created_at || null,
        received_at: entry.received_at,
        updated_at: entry.updated_at,
        transitions: entry.history.length,
        has_report: entry.has_report,
    };
}

class Results {
    /**
     * @param {object} opts {dir (null: memory only), max (entries kept), log, now()}
     */
    constructor(opts) {
        this.dir = opts.dir || null;
        this.max = opts.max || 50;
        this.log = opts.log;
        this.now = opts.now || Date.now;
        this.entries = new Map(); // id -> entry, oldest first
        this.memoryReports = new Map(); // id -> html, when the dir is not writable
        this.persistError = this.dir ? null : "no userDir: results are kept in memory only";
        this.chain = Promise.resolve();
    }

    /** Read the stored results (synchronously, at start-up); bad files are skipped and logged. */
    load() {
        if (!this.dir) return 0;
        let names;
        try {
            fs.mkdirSync(this.dir, { recursive: true });
            names = fs.readdirSync(this.dir).filter((n) => n.endsWith(".json"));
        } catch (err) {
            this.persistError = `cannot use ${this.dir}: ${err.message}`;
            this.log.warn(`[causal-tap] ${this.persistError}; results are kept in memory only`);
            this.dir = null;
            return 0;
        }
        const loaded = [];
        for (const name of names) {
            const file = path.join(this.dir, name);
            try {
                const entry = JSON.parse(fs.readFileSync(file, "utf8"));
                const { answer } = parseBody({ answer: entry.answer });
                if (answer.id !== entry.id || `${entry.id}.json` !== name) throw new Error("id does not match the file name");
                entry.answer = answer;
                entry.has_report = fs.existsSync(path.join(this.dir, `${entry.id}.html`));
                loaded.push(entry);
            } catch (err) {
                this.log.warn(`[causal-tap] skipping the stored result ${file}: ${err.message}`);
            }
        }
        loaded.sort((a, b) => a.updated_at - b.updated_at);
        for (const entry of loaded) this.entries.set(entry.id, entry);
        this.evict();
        return this.entries.size;
    }

    /** Store a posted result; resolves to {entry, created}. Throws ResultError on bad input. */
    put(body) {
        const { answer, report } = parseBody(body);
        const now = this.now();
        const old = this.entries.get(answer.id);
        const history = old ? old.history.slice(-(MAX_HISTORY - 1)) : [];
        history.push({ state: answer.state, at: now });
        const entry = {
            id: answer.id,
            received_at: old ? old.received_at : now,
            updated_at: now,
            history,
            has_report: !!report || (old ? old.has_report : false),
            answer,
        };
        this.entries.delete(answer.id);
        this.entries.set(answer.id, entry);
        const removed = this.evict();
        const write = this.persist(entry, report, removed);
        return write.then(() => ({ entry, created: !old }));
    }

    evict() {
        const removed = [];
        while (this.entries.size > this.max) {
            const oldest = this.entries.keys().next().value;
            this.entries.delete(oldest);
            this.memoryReports.delete(oldest);
            removed.push(oldest);
        }
        return removed;
    }

    /** Writes are chained: two posts of the same id land in order. `entry` null: only remove. */
    persist(entry, report, removed) {
        const job = () => this.writeFiles(entry, report, removed);
        this.chain = this.chain.then(job, job);
        return this.chain;
    }

    async writeFiles(entry, report, removed) {
        if (this.dir) {
            try {
                if (entry && report) await writeAtomic(path.join(this.dir, `${entry.id}.html`), report);
                if (entry) await writeAtomic(path.join(this.dir, `${entry.id}.json`), JSON.stringify(entry));
                for (const id of removed) {
                    await fs.promises.rm(path.join(this.dir, `${id}.json`), { force: true });
                    await fs.promises.rm(path.join(this.dir, `${id}.html`), { force: true });
                }
                return;
            } catch (err) {
                this.persistError = `cannot write to ${this.dir}: ${err.message}`;
                this.log.warn(`[causal-tap] ${this.persistError}; results are kept in memory only from now on`);
                this.dir = null;
            }
        }
        if (entry && report) this.keepInMemory(entry.id, report);
    }

    keepInMemory(id, report) {
        this.memoryReports.delete(id);
        this.memoryReports.set(id, report);
        let total = 0;
        for (const html of this.memoryReports.values()) total += html.length;
        for (const [oldId, html] of this.memoryReports) {
            if (total <= MEMORY_REPORT_BYTES || oldId === id) break;
            this.memoryReports.delete(oldId);
            total -= html.length;
            const entry = this.entries.get(oldId);
            if (entry) entry.has_report = false;
        }
    }

    /** Summaries, newest first. */
    list() {
        return Array.from(this.entries.values(), summary).reverse();
    }

    get(id) {
        return this.entries.get(id) || null;
    }

    /** The report page of a result, or null. */
    async report(id) {
        const entry = this.entries.get(id);
        if (!entry || !entry.has_report) return null;
        if (this.memoryReports.has(id)) return this.memoryReports.get(id);
        if (!this.dir) return null;
        try {
            return await fs.promises.readFile(path.join(this.dir, `${id}.html`), "utf8");
        } catch (_err) {
            return null;
        }
    }

    /** Forget one result (or all); returns the ids removed. */
    async remove(id) {
        const ids = id === undefined ? Array.from(this.entries.keys()) : this.entries.has(id) ? [id] : [];
        for (const one of ids) {
            this.entries.delete(one);
            this.memoryReports.delete(one);
        }
        await this.persist(null, null, ids);
        return ids;
    }

    status() {
        return { kept: this.entries.size, max: this.max, dir: this.dir, persist_error: this.persistError };
    }
}

/** Write a file via a temp file in the same directory and a rename; mode 0644. */
async function writeAtomic(file, data) {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`);
    try {
        await fs.promises.writeFile(tmp, data, { mode: 0o644 });
        await fs.promises.chmod(tmp, 0o644);
        await fs.promises.rename(tmp, file);
    } catch (err) {
        await fs.promises.rm(tmp, { force: true }).catch(() => {});
        throw err;
    }
}

module.exports = {
    Results, ResultError, parseBody, fromIncident, summary, writeAtomic, ID_RE, KINDS, MAX_REPORT_BYTES,
};
