"use strict";
/**
 * The tap core: hook handlers -> records (with lineage) -> bounded queue -> batches -> transport.
 *
 * Independent of Node-RED's RED object (it gets a `hooks` object with add/remove and a log), so it
 * is unit-tested with fakes. Rules, as for any instrumentation on the message path: every handler
 * is synchronous, takes one argument, never mutates the message, never throws (failures are
 * counted in `failed`) and never blocks (a full queue drops its oldest record, counted in
 * `dropped`). The hot path allocates nothing per record (records live in typed arrays, see
 * store.js); serialisation happens when a batch is flushed, outside the hooks.
 *
 * Lineage (our own ids, not `_msgid`): a delivery's id is the `seq` of its record. When a message
 * is delivered, its seq is remembered in a WeakMap keyed by the delivered message object; when
 * the destination receives it (onReceive) we note the receive time and make the seq the current
 * AsyncLocalStorage store (`enterWith`), so everything the node does while handling it,
 * synchronously or in callbacks it schedules, sees it. A send then finds its parent as
 *   1. the delivery that brought this very message object to the sending node (a node that
 *      forwards its input, also from a timer: delay, subflow instance, link out), else
 *   2. the ALS store, if that delivery went to the sending node (function nodes building new
 *      objects, async or not), else
 *   3. none: a root (inject, mqtt in, http in ...), trace = its own seq.
 * Copies of a message sent to the 2nd..nth wire of the same send share the first one's parent.
 *
 * Multi-parent lineage: an aggregating node (join, batch, `aggregateTypes`) builds what it sends
 * from several received messages, and `parent` names only one of them (the one it was handling,
 * or the very object it forwards). Such nodes' receives are also remembered per node (lineage.js
 * Parts) and the deliveries of their next send burst carry them all as `parents` (every part,
 * oldest first, `parent` usually among them).
 */

const { performance } = require("perf_hooks");
const { AsyncLocalStorage } = require("async_hooks");
const crypto = require("crypto");
const { RecordStore, KIND } = require("./store");
const { Lineage, ContextStack, Parts, NOT_FOUND } = require("./lineage");
const { Projector } = require("./project");
const { createShipper, InlineShipper } = require("./ship");

const LABEL = "nodered-causal";
const ERROR_LEVEL = 20; // @node-red/util log.ERROR

class Tap {
    /**
     * @param {object} cfg resolved config (config.js)
     * @param {object} deps {hooks, log, boot, syncDelivery, logRegistry, transport}
     *   hooks: {add(id, fn), remove(id), has(id)} (RED.hooks); log: {info, warn, error, debug};
     *   boot: hex id of this start; syncDelivery: Node-RED's runtimeSyncDelivery setting;
     *   logRegistry: RED.log (addHandler/removeHandler), optional; transport: an in-process
     *   transport object (tests) instead of the one cfg names (shipped from a worker thread).
     */
    constructor(cfg, deps) {
        this.cfg = cfg;
        this.hooks = deps.hooks;
        this.log = deps.log;
        // node errors that no catch node handled are only logged: we listen to the log for them
        this.logRegistry = deps.logRegistry || null;
        this.logHandler = null;
        // With runtimeSyncDelivery the receiver runs inside the sender's call, before postDeliver:
        // record in preDeliver instead, and restore the sender's store after the receiver.
        this.syncDelivery = !!deps.syncDelivery;
        this.deliverHook = this.syncDelivery ? "preDeliver" : "postDeliver";
        this.boot = deps.boot || newBoot();
        this.store = new RecordStore(
            cfg.queueMax,
            Math.max(cfg.queueMax * 4, cfg.payloadLeaves * 4),
            cfg.lineage ? Math.max(cfg.queueMax, cfg.maxParents * 4) : 2,
        );
        this.projector = new Projector(cfg);
        this.shipper = createShipper(cfg, this.log, this.boot, deps.transport);
        this.lineage = cfg.lineage;
        this.lin = this.lineage ? new Lineage(cfg.lineageWindow) : null;
        this.als = this.lineage ? new AsyncLocalStorage() : null;
        this.parts = this.lineage ? new Parts(cfg.aggregateTypes, cfg.maxParents) : null;
        // with sync delivery a receiver runs inside its sender's call: postReceive gives the
        // sender its context back
        this.nested = this.lineage && this.syncDelivery;
        this.stack = new ContextStack();
        this.deliveries = new WeakMap(); // delivered msg object -> seq of that delivery
        this.dropped = 0; // records taken from the queue and not shipped (encoding failed)
        this.deadDropped = 0; // records lost with a shipping worker that died
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
        this.onPostReceive = (ev) => this.handlePostReceive(ev);
        this.onComplete = (ev) => this.handleComplete(ev);
        this.flushNow = () => this.flush();
        this.shipper.onReady = () => this.kick();
    }

    // ---- lifecycle -------------------------------------------------------------------------

    start() {
        if (this.running) return;
        this.running = true;
        this.startedAt = Date.now();
        this.addHook(this.deliverHook, this.onDeliver);
        if (this.lineage) this.addHook("onReceive", this.onReceive);
        if (this.nested) this.addHook("postReceive", this.onPostReceive);
        // Errors: node.error() reaches catch nodes (seen in onReceive) or, unhandled, the log;
        // done(err) ends in node.error() too. onComplete is only needed for complete records,
        // or for done(err) errors when there is no onReceive hook (lineage off).
        if (this.cfg.recordComplete || !this.lineage) this.addHook("onComplete", this.onComplete);
        if (this.logRegistry) {
            // Node-RED logs 3 metric events per delivery to every handler: keep this one cheap
            // (a plain object, not an EventEmitter)
            this.logHandler = {
                emit: (_ev, m) => {
                    if (m.level === ERROR_LEVEL) this.handleLog(m);
                },
            };
            this.logRegistry.addHandler(this.logHandler);
        }
        this.timers.push(setInterval(this.flushNow, this.cfg.flushMs));
        this.timers.push(setInterval(() => this.emitStats(), this.cfg.statsMs));
        for (const t of this.timers) t.unref();
        try {
            this.shipper.start();
        } catch (err) {
            if (this.shipper.mode !== "worker") throw err;
            this.fallBack(err);
        }
        this.log.info(
            `[causal-tap] recording to ${this.shipper.describe()} as tap '${this.cfg.instance}' boot ${this.boot} (${this.shipper.mode})`,
        );
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
        while (this.store.size > 0 && Date.now() < deadline) {
            this.flush();
            if (this.store.size > 0) await new Promise((r) => setTimeout(r, 20));
        }
        this.dropped += await this.shipper.close(Math.max(0, deadline - Date.now()));
        this.dropped += this.store.clear();
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
            const s = this.store;
            const seq = s.alloc(KIND.deliver, t);
            const i = s.slot(seq);
            const ids = s.nodeIds;
            s.src[i] = ids.id(srcId);
            s.port[i] = src.port;
            const dstId = ev.destination.id;
            s.dst[i] = ids.id(dstId);
            if (this.lineage) {
                let p;
                if (ev.cloneMessage === true && this.lastSrc === srcId) {
                    p = this.lastParent;
                } else {
                    const lin = this.lin;
                    p = this.deliveries.get(msg);
                    if (p === undefined || !lin.owns(p, srcId)) {
                        p = this.handling();
                        if (p !== undefined && !lin.owns(p, srcId)) {
                            // a link call sends what a link out (return mode) handed back
                            const isCall = src.node !== undefined && src.node.type === "link call";
                            p = isCall && lin.isReturn(p) ? this.linkReturn(p, srcId, msg, t) : undefined;
                        }
                    }
                    this.lastSrc = srcId;
                    this.lastParent = p;
                }
                this.link(seq, i, p, t, dstId, -1);
                const parts = this.parts.sending(srcId);
                if (parts !== undefined) s.setParents(i, parts);
                this.deliveries.set(msg, seq);
            }
            this.projector.project(s, i, msg.payload);
            this.queued();
        } catch (err) {
            this.fail(err);
        }
    }

    handleReceive(ev) {
        try {
            const msg = ev.msg;
            const dst = ev.destination;
            const p = this.deliveries.get(msg);
            if (p !== undefined && this.lin.owns(p, dst.id)) {
                const node = dst.node;
                const type = node !== undefined ? node.type : undefined;
                this.lin.received(p, performance.now(), type === "link out");
                if (this.parts.aggregates(type)) this.parts.received(dst.id, node, p);
                if (this.nested) this.stack.push(msg, dst.id, this.handling());
                this.enter(p);
                return;
            }
            this.receiveOffWire(msg, dst);
        } catch (err) {
            this.fail(err);
        }
    }

    /** Sync delivery: after a receiver's input handler returned, the sender's context is back. */
    handlePostReceive(ev) {
        try {
            const prev = this.stack.pop(ev.msg, ev.destination.id);
            if (prev !== NOT_FOUND) this.enter(prev);
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
            const t = performance.now();
            const seq = this.store.alloc(KIND.complete, t);
            const i = this.store.slot(seq);
            this.store.src[i] = this.store.nodeIds.id(ev.node.id);
            this.linkOwn(i, ev.node.id, this.deliveries.get(ev.msg), t);
            this.queued();
        } catch (err) {
            this.fail(err);
        }
    }

    /** Runtime log entries: an error logged by a node (node.error that no catch node handled). */
    handleLog(m) {
        try {
            if (m.id && this.running) {
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
    recordError(nodeId, text, p) {
        const key = `${nodeId}\u0000${text}`;
        if (this.lastErrorKey === key) return;
        this.noteError(key);
        const t = performance.now();
        const seq = this.store.alloc(KIND.error, t);
        const i = this.store.slot(seq);
        this.store.src[i] = this.store.nodeIds.id(nodeId);
        this.store.texts.set(seq, text);
        this.linkOwn(i, nodeId, p, t);
        this.queued();
    }

    noteError(key) {
        this.lastErrorKey = key;
        queueMicrotask(() => {
            if (this.lastErrorKey === key) this.lastErrorKey = null;
        });
    }

    // ---- lineage helpers -------------------------------------------------------------------

    /** The delivery the current code runs for (seq), if any. */
    handling() {
        return this.als.getStore();
    }

    enter(p) {
        this.als.enterWith(p);
    }

    /**
     * parent/trace/latency of delivery `seq` (slot i) from parent delivery p (or a root), and
     * remember it for its receiver dstId (receive time rt, -1 until received).
     */
    link(seq, i, p, t, dstId, rt) {
        const s = this.store;
        const lin = this.lin;
        let trace;
        if (p !== undefined && p !== 0) {
            trace = lin.trace(p);
            s.parent[i] = p;
            const prt = lin.rt(p);
            if (prt >= 0) s.lat[i] = t - prt;
        } else {
            trace = seq;
            this.roots++;
        }
        s.trace[i] = trace;
        lin.add(seq, trace, dstId, rt);
    }

    /** parent/trace/latency of a node event (error, complete): the delivery it was handling. */
    linkOwn(i, nodeId, p, t) {
        if (!this.lineage) return;
        const lin = this.lin;
        if (p === undefined || !lin.owns(p, nodeId)) {
            p = this.handling();
            if (p !== undefined && !lin.owns(p, nodeId)) p = undefined;
        }
        if (p !== undefined && p !== 0) {
            const s = this.store;
            s.parent[i] = p;
            s.trace[i] = lin.trace(p);
            const prt = lin.rt(p);
            if (prt >= 0) s.lat[i] = t - prt;
        }
    }

    /**
     * Make a replacement message (e.g. a fault's modified clone) inherit the lineage of the
     * message it replaces, so sends of the replacement link like sends of the original.
     */
    alias(replacement, original) {
        if (this.lineage) {
            const p = this.deliveries.get(original);
            if (p !== undefined) this.deliveries.set(replacement, p);
        }
    }

    /**
     * A `link call` sending the message a `link out` (return mode) handed back: record the
     * return as a delivery link out -> link call (port null) and make it the parent.
     */
    linkReturn(p, srcId, msg, t) {
        const s = this.store;
        const seq = s.alloc(KIND.deliver, t);
        const i = s.slot(seq);
        s.src[i] = s.nodeIds.id(this.lin.dst(p));
        s.dst[i] = s.nodeIds.id(srcId);
        this.link(seq, i, p, t, srcId, t);
        this.projector.project(s, i, msg.payload);
        this.queued();
        return seq;
    }

    /**
     * A message received without a wire (no postDeliver before it). Catch, complete and status
     * nodes and a link in called by a link call get a delivery record from the node the runtime
     * names as source (port null); a caught error also gets an error record unless onComplete
     * already recorded it. The delivery is keyed by the received object (those nodes forward it).
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
        let p = this.handling();
        if (p !== undefined && !this.lin.owns(p, src)) p = undefined;
        const s = this.store;
        const seq = s.alloc(KIND.deliver, t);
        const i = s.slot(seq);
        s.src[i] = s.nodeIds.id(String(src));
        s.dst[i] = s.nodeIds.id(dst.id);
        this.link(seq, i, p, t, dst.id, t);
        this.projector.project(s, i, msg.payload);
        this.queued();
        // these nodes forward the object they received: its sends find this delivery by identity
        this.deliveries.set(msg, seq);
        // postReceive (if registered) gives the calling node its context back afterwards
        if (this.nested) this.stack.push(msg, dst.id, this.handling());
    }

    // ---- queue, batches, stats -------------------------------------------------------------

    queued() {
        if (!this.flushScheduled && this.store.size >= this.shipper.chunk) {
            this.flushScheduled = true;
            setImmediate(this.flushNow);
        }
    }

    /** The shipper has room again: ship now if a full chunk waits (the timer ships the rest). */
    kick() {
        if (!this.flushScheduled && this.store.size >= this.shipper.chunk) {
            this.flushScheduled = true;
            setImmediate(this.flushNow);
        }
    }

    /** The shipping worker could not start or died: ship from this thread from now on. */
    fallBack(err) {
        this.log.warn(`[causal-tap] shipping worker unavailable (${err && err.message ? err.message : err}): shipping from Node-RED's thread`);
        this.deadDropped += this.shipper.dropped;
        this.shipper = new InlineShipper(this.cfg, this.log, this.boot);
        this.shipper.onReady = () => this.kick();
        // the new encoder needs the whole id and path tables
        this.store.nodeIds.shipped = 0;
        this.projector.paths.shipped = 0;
        this.shipper.start();
    }

    /** Ship queued records in batches while the transport has room. Never throws. */
    flush() {
        this.flushScheduled = false;
        try {
            if (this.shipper.dead) this.fallBack(new Error("it stopped"));
            const sh = this.shipper;
            const s = this.store;
            while (s.size > 0 && sh.ready()) {
                const batch = s.take(sh.chunk);
                try {
                    sh.send(batch, { ids: s.nodeIds.fresh(), paths: this.projector.paths.fresh() });
                } catch (err) {
                    this.fail(err);
                }
            }
        } catch (err) {
            this.fail(err);
        }
    }

    emitStats() {
        try {
            const s = this.store;
            const seq = s.alloc(KIND.stats, performance.now());
            s.stats.set(seq, this.counters());
            this.queued();
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

    /**
     * The counters of the stats records: all records so far, dropped, failed, and queue = records
     * not shipped yet (the tap's queue + handed to the shipper: encoding, waiting, in flight).
     */
    counters() {
        return {
            recorded: this.store.next - 1,
            dropped: this.store.dropped + this.dropped + this.deadDropped + this.shipper.dropped,
            failed: this.failed,
            queue: this.store.size + this.shipper.pending,
        };
    }

    /** Everything the admin endpoint shows (no secrets). */
    snapshot() {
        return Object.assign(this.counters(), {
            tap: this.cfg.instance,
            boot: this.boot,
            seq: this.store.next - 1,
            running: this.running,
            started_at: this.startedAt,
            roots: this.roots,
            dropped_queue: this.store.dropped,
            queue_tap: this.store.size,
            hooks: this.registered.slice(),
            last_failure: this.lastFailure,
            paths_skipped: this.projector.skipped,
            parents_truncated: this.parts ? this.parts.truncated : 0,
            transport: this.shipper.status(),
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
