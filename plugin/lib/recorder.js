"use strict";
/**
 * The tap core: hook handlers -> records (with lineage) -> bounded queue -> batches -> transport.
 *
 * Independent of Node-RED's RED object (it gets a `hooks` object with add/remove and a log), so it
 * is unit-tested with fakes. Rules, as for any instrumentation on the message path: every handler
 * is synchronous, takes one argument, never mutates the message, never throws (failures are
 * counted in `failed`) and never blocks (a full queue drops its oldest record, counted in
 * `dropped`).
 *
 * Lineage (our own ids, not `_msgid`): a delivery's id is the `seq` of its record. When a message
 * is delivered, the record is remembered in a WeakMap keyed by the delivered message object; when
 * the destination receives it (onReceive) we note the receive time and make the record the
 * current AsyncLocalStorage store (`enterWith`), so everything the node does while handling it,
 * synchronously or in callbacks it schedules, sees it. A send then finds its parent as
 *   1. the delivery that brought this very message object to the sending node (a node that
 *      forwards its input, also from a timer: delay, subflow instance, link out), else
 *   2. the ALS store, if it belongs to the sending node (function nodes building new objects,
 *      async or not), else
 *   3. none: a root (inject, mqtt in, http in ...), trace = its own seq.
 * Copies of a message sent to the 2nd..nth wire of the same send share the first one's parent.
 */

const { performance } = require("perf_hooks");
const { AsyncLocalStorage } = require("async_hooks");
const crypto = require("crypto");
const { EventEmitter } = require("events");
const { Record, Clock, encodeBatch, recordHead } = require("./record");
const { projectPayload } = require("./project");
const { Ring } = require("./ring");

const LABEL = "nodered-causal";
const ERROR_LEVEL = 20; // @node-red/util log.ERROR

class Tap {
    /**
     * @param {object} cfg resolved config (config.js)
     * @param {object} deps {hooks, transport, log, syncDelivery}
     *   hooks: {add(id, fn), remove(id)} (RED.hooks); transport: see transport/*.js;
     *   log: {info, warn, error, debug}; syncDelivery: Node-RED's runtimeSyncDelivery setting.
     */
    constructor(cfg, deps) {
        this.cfg = cfg;
        this.hooks = deps.hooks;
        // RED.log (addHandler/removeHandler): node errors no catch node handled are only logged
        this.logRegistry = deps.logRegistry || null;
        this.logHandler = null;
        this.transport = deps.transport;
        this.log = deps.log;
        // With runtimeSyncDelivery the receiver runs inside the sender's call, before postDeliver:
        // record in preDeliver instead, and restore the sender's store after the receiver.
        this.syncDelivery = !!deps.syncDelivery;
        this.deliverHook = this.syncDelivery ? "preDeliver" : "postDeliver";
        this.boot = deps.boot || newBoot();
        this.head = recordHead(cfg.instance, this.boot);
        this.clock = new Clock();
        this.ring = new Ring(cfg.queueMax);
        this.lineage = cfg.lineage;
        this.als = cfg.lineage ? new AsyncLocalStorage() : null;
        this.deliveries = new WeakMap();
        this.seq = 0;
        this.recorded = 0;
        this.dropped = 0;
        this.failed = 0;
        this.roots = 0;
        this.lastFailure = null;
        this.lastSrc = null;
        this.lastParent = undefined;
        this.lastErrorKey = null;
        this.flushScheduled = false;
        this.running = false;
        this.registered = [];
        this.timers = [];
        this.startedAt = null;
        // bound handlers (one-argument, synchronous)
        this.onDeliver = (ev) => this.handleDeliver(ev);
        this.onReceive = (ev) => this.handleReceive(ev);
        this.onComplete = (ev) => this.handleComplete(ev);
        this.onPostReceive = (ev) => this.handlePostReceive(ev);
        this.flushNow = () => this.flush();
        this.transport.onReady = () => this.kick();
    }

    // ---- lifecycle -------------------------------------------------------------------------

    start() {
        if (this.running) return;
        this.running = true;
        this.startedAt = Date.now();
        this.addHook(this.deliverHook, this.onDeliver);
        if (this.lineage) this.addHook("onReceive", this.onReceive);
        if (this.lineage && this.syncDelivery) this.addHook("postReceive", this.onPostReceive);
        this.addHook("onComplete", this.onComplete);
        if (this.logRegistry) {
            this.logHandler = new EventEmitter();
            this.logHandler.on("log", (m) => this.handleLog(m));
            this.logRegistry.addHandler(this.logHandler);
        }
        this.timers.push(setInterval(this.flushNow, this.cfg.flushMs));
        this.timers.push(setInterval(() => this.emitStats(), this.cfg.statsMs));
        for (const t of this.timers) t.unref();
        this.transport.start();
        this.log.info(`[causal-tap] recording to ${this.transport.describe()} as tap '${this.cfg.instance}' boot ${this.boot}`);
    }

    addHook(name, fn) {
        const id = `${name}.${LABEL}`;
        if (this.hooks.has && this.hooks.has(id)) this.hooks.remove(id);
        this.hooks.add(id, fn);
        this.registered.push(id);
    }

    /** Remove the hooks, stop the timers, ship what is queued (bounded by timeoutMs). */
    async stop(timeoutMs = 2000) {
        if (!this.running) return;
        this.running = false;
        for (const id of this.registered) {
            try {
                this.hooks.remove(id);
            } catch (err) {
                this.fail(err);
            }
        }
        this.registered = [];
        if (this.logHandler) {
            try {
                this.logRegistry.removeHandler(this.logHandler);
            } catch (err) {
                this.fail(err);
            }
            this.logHandler = null;
        }
        for (const t of this.timers) clearInterval(t);
        this.timers = [];
        this.emitStats();
        const deadline = Date.now() + timeoutMs;
        while (this.ring.size > 0 && Date.now() < deadline) {
            this.flush();
            if (this.ring.size > 0) await new Promise((r) => setTimeout(r, 20));
        }
        this.dropped += await this.transport.close(Math.max(0, deadline - Date.now()));
        if (this.ring.size > 0) {
            this.dropped += this.ring.size;
            this.ring.clear();
        }
        if (this.als) this.als.disable();
        this.log.info(`[causal-tap] stopped: ${JSON.stringify(this.counters())}`);
    }

    // ---- hook handlers ---------------------------------------------------------------------

    handleDeliver(ev) {
        try {
            const t = performance.now();
            const src = ev.source;
            const srcId = src.id;
            const msg = ev.msg;
            const rec = new Record(++this.seq, "deliver", t);
            rec.src = srcId;
            rec.port = src.port;
            rec.dst = ev.destination.id;
            if (this.lineage) {
                let p;
                if (ev.cloneMessage === true && this.lastSrc === srcId) {
                    p = this.lastParent;
                } else {
                    p = this.deliveries.get(msg);
                    if (p === undefined || p.dst !== srcId) {
                        p = this.als.getStore();
                        if (p !== undefined && p.dst !== srcId) {
                            p = p.ret ? this.linkReturn(p, srcId, msg, t) : undefined;
                        }
                    }
                    this.lastSrc = srcId;
                    this.lastParent = p;
                }
                this.link(rec, p, t);
                this.deliveries.set(msg, rec);
            }
            projectPayload(rec, msg.payload, this.cfg);
            this.enqueue(rec);
        } catch (err) {
            this.fail(err);
        }
    }

    handleReceive(ev) {
        try {
            const msg = ev.msg;
            const dst = ev.destination;
            const info = this.deliveries.get(msg);
            if (info !== undefined && info.dst === dst.id) {
                info.rt = performance.now();
                if (dst.node !== undefined && dst.node.type === "link out") info.ret = true;
                if (this.syncDelivery) info.prev = this.als.getStore();
                this.als.enterWith(info);
                return;
            }
            this.receiveOffWire(msg, dst);
        } catch (err) {
            this.fail(err);
        }
    }

    /** Sync delivery only: give the sender back its own store once the receiver returned. */
    handlePostReceive(ev) {
        try {
            const info = this.deliveries.get(ev.msg);
            if (info !== undefined && info.dst === ev.destination.id && info.prev !== undefined) {
                const prev = info.prev;
                info.prev = undefined;
                this.als.enterWith(prev);
            }
        } catch (err) {
            this.fail(err);
        }
    }

    handleComplete(ev) {
        try {
            const error = ev.error;
            const hasError = error !== undefined && error !== null && error !== false;
            if (hasError) {
                this.recordError(ev.node.id, errorText(error), this.deliveries.get(ev.msg));
                return;
            }
            if (!this.cfg.recordComplete) return;
            const rec = new Record(++this.seq, "complete", performance.now());
            rec.src = ev.node.id;
            this.linkOwn(rec, ev.node.id, this.deliveries.get(ev.msg));
            this.enqueue(rec);
        } catch (err) {
            this.fail(err);
        }
    }

    /** Runtime log entries: an error logged by a node (node.error that no catch node handled). */
    handleLog(m) {
        try {
            if (m && m.level === ERROR_LEVEL && m.id && this.running) {
                this.recordError(m.id, errorText(m.msg), undefined);
            }
        } catch (err) {
            this.fail(err);
        }
    }

    /**
     * One error record per error, whichever way the runtime reports it: done(err) fires
     * onComplete and then node.error, which either reaches catch nodes (onReceive) or the log.
     * The same (node, text) reported again within the same synchronous run is not repeated.
     */
    recordError(nodeId, text, info) {
        const key = `${nodeId}\u0000${text}`;
        if (this.lastErrorKey === key) return;
        this.noteError(key);
        const rec = new Record(++this.seq, "error", performance.now());
        rec.src = nodeId;
        rec.error = text;
        this.linkOwn(rec, nodeId, info);
        this.enqueue(rec);
    }

    /** parent/trace/latency of a node event: the delivery the node was handling, if known. */
    linkOwn(rec, nodeId, info) {
        if (!this.lineage) return;
        let p = info;
        if (p === undefined || p.dst !== nodeId) {
            p = this.als.getStore();
            if (p !== undefined && p.dst !== nodeId) p = undefined;
        }
        if (p !== undefined && p.seq !== null) {
            rec.parent = p.seq;
            rec.trace = p.trace;
            if (p.rt >= 0) rec.lat = rec.t - p.rt;
        }
    }

    // ---- lineage helpers -------------------------------------------------------------------

    /**
     * Make a replacement message (e.g. a fault's modified clone) inherit the lineage of the
     * message it replaces, so sends of the replacement link like sends of the original.
     */
    alias(replacement, original) {
        if (this.lineage) {
            const info = this.deliveries.get(original);
            if (info !== undefined) this.deliveries.set(replacement, info);
        }
    }

    link(rec, p, t) {
        if (p !== undefined && p.seq !== null) {
            rec.parent = p.seq;
            rec.trace = p.trace;
            if (p.rt >= 0) rec.lat = t - p.rt;
        } else {
            rec.trace = rec.seq;
            this.roots++;
        }
    }

    /**
     * A `link call` sending the message a `link out` (return mode) handed back: record the
     * return as a delivery link out -> link call (port null) and make it the parent.
     */
    linkReturn(p, srcId, msg, t) {
        const rec = new Record(++this.seq, "deliver", t);
        rec.src = p.dst;
        rec.dst = srcId;
        this.link(rec, p, t);
        rec.rt = t;
        projectPayload(rec, msg.payload, this.cfg);
        this.enqueue(rec);
        return rec;
    }

    /**
     * A message received without a wire (no postDeliver before it). Catch, complete and status
     * nodes and a link in called by a link call get a delivery record from the node the runtime
     * names as source (port null); a caught error also gets an error record unless onComplete
     * already recorded it. The record is keyed by the received object (those nodes forward it).
     * Nothing enters the async context here: such receives run synchronously inside another
     * node's call (catch inside the failing node), whose context must stay as it is. Anything else
     * (inject buttons and timers, custom receive() calls) is not attributed: what the receiver
     * sends becomes a root unless it forwards an object with a known delivery.
     */
    receiveOffWire(msg, dst) {
        const node = dst.node;
        const type = node ? node.type : undefined;
        let src = null;
        let errText = null;
        if (type === "catch") {
            const e = msg.error;
            if (e && e.source) {
                src = e.source.id;
                errText = e.message === undefined ? null : String(e.message);
            }
        } else if (type === "complete") {
            src = msg.complete && msg.complete.source ? msg.complete.source.id : null;
        } else if (type === "status") {
            src = msg.status && msg.status.source ? msg.status.source.id : null;
        } else if (type === "link in") {
            const ls = msg._linkSource;
            src = Array.isArray(ls) && ls.length > 0 ? ls[ls.length - 1].node : null;
        }
        if (src === null || src === undefined) return;
        if (errText !== null) this.recordError(src, errText, undefined);
        const t = performance.now();
        let p = this.als.getStore();
        if (p !== undefined && p.dst !== src) p = undefined;
        const rec = new Record(++this.seq, "deliver", t);
        rec.src = src;
        rec.dst = dst.id;
        this.link(rec, p, t);
        rec.rt = t;
        projectPayload(rec, msg.payload, this.cfg);
        this.enqueue(rec);
        // these nodes forward the object they received: its sends find this record by identity
        this.deliveries.set(msg, rec);
    }

    noteError(key) {
        this.lastErrorKey = key;
        queueMicrotask(() => {
            if (this.lastErrorKey === key) this.lastErrorKey = null;
        });
    }

    // ---- queue, batches, stats -------------------------------------------------------------

    enqueue(rec) {
        this.recorded++;
        if (this.ring.push(rec) !== undefined) this.dropped++;
        if (!this.flushScheduled && this.ring.size >= this.cfg.batchSize) {
            this.flushScheduled = true;
            setImmediate(this.flushNow);
        }
    }

    kick() {
        if (!this.flushScheduled && this.ring.size > 0) {
            this.flushScheduled = true;
            setImmediate(this.flushNow);
        }
    }

    /** Ship queued records in batches while the transport has room. Never throws. */
    flush() {
        this.flushScheduled = false;
        try {
            const tr = this.transport;
            while (this.ring.size > 0 && tr.ready()) {
                const batch = this.ring.take(this.cfg.batchSize);
                let body;
                try {
                    body = encodeBatch(batch, this.head, this.clock);
                } catch (err) {
                    this.dropped += batch.length;
                    this.fail(err);
                    continue;
                }
                tr.send(body, batch.length);
            }
        } catch (err) {
            this.fail(err);
        }
    }

    emitStats() {
        try {
            const rec = new Record(++this.seq, "stats", performance.now());
            this.enqueue(rec);
            rec.stats = {
                recorded: this.recorded,
                dropped: this.dropped + this.transport.dropped,
                failed: this.failed,
                queue: this.ring.size,
            };
        } catch (err) {
            this.fail(err);
        }
    }

    fail(err) {
        this.failed++;
        if (this.lastFailure === null || this.failed % 1000 === 1) {
            this.lastFailure = err && err.stack ? err.stack : String(err);
            try {
                this.log.warn(`[causal-tap] internal failure #${this.failed}: ${this.lastFailure}`);
            } catch (_e) {
                // logging must not throw into the runtime either
            }
        }
    }

    counters() {
        return {
            recorded: this.recorded,
            dropped: this.dropped + this.transport.dropped,
            failed: this.failed,
            queue: this.ring.size,
        };
    }

    /** Everything the admin endpoint shows (no secrets). */
    snapshot() {
        return Object.assign(this.counters(), {
            tap: this.cfg.instance,
            boot: this.boot,
            seq: this.seq,
            running: this.running,
            started_at: this.startedAt,
            roots: this.roots,
            dropped_queue: this.dropped,
            hooks: this.registered.slice(),
            last_failure: this.lastFailure,
            transport: this.transport.status(),
        });
    }
}

/** A fresh boot id: random hex, new per plugin start. */
function newBoot() {
    return crypto.randomBytes(8).toString("hex");
}

function errorText(error) {
    if (typeof error === "string") return error;
    try {
        return String(error);
    } catch (_err) {
        return "<unprintable error>";
    }
}

module.exports = { Tap, LABEL, errorText, newBoot };
