"use strict";
/**
 * Sampling: record every delivery of a fraction of the root messages, count all of them.
 *
 * `causalTap.sample` < 1 (or `sampleMode: "adaptive"`) makes the tap a `SampledTap`:
 *
 * - **Which messages.** A message's trace is in the sample when a hash of its `_msgid` falls below
 *   the rate (deterministic: every node of the flow, and every instance of a fleet, decides the
 *   same for the same id). Node-RED gives each new message an id and most nodes pass it on (a
 *   function node stamps its input's id on what it sends), so one decision covers the whole
 *   trace. A delivery whose parent is a recorded delivery is always recorded (a node that forwards
 *   the object, or sends a new one with the same `_msgid`): traces are whole. A node that makes a
 *   new `_msgid` (split) starts a new trace, in or out of the sample by its own id.
 * - **Lineage without AsyncLocalStorage.** Parents come from the delivered object (WeakMap) or
 *   from the last recorded delivery with the same `_msgid` to the sending node; no async hooks
 *   are enabled (they cost every async operation of the process, sampled or not).
 * - **Exact counts.** Every delivery, sampled or not, adds one to its wire's counter; every
 *   `statsMs` a `counts` record carries the counts since the previous one
 *   (`{"kind":"counts","since_ns":...,"sample":rate,"counts":[[src,port,dst,n],...]}`), so
 *   throughput per node stays exact. Errors are always recorded.
 * - **Adaptive.** `sampleMode: "adaptive"` holds the recording's share of Node-RED's thread (the
 *   time spent recording sampled deliveries and handing batches to the shipper) under `cpuBudget`
 *   (default 0.03): each `statsMs` the rate drops to the power of two that fits when over (the
 *   cost is about proportional to the rate), doubles when under 40 % of it, between `sampleMin`
 *   and 1 (nested samples: a trace in the sample at a rate is in it at every higher rate).
 */

const { performance } = require("perf_hooks");
const { Tap } = require("./recorder");
const { KIND } = require("./store");
const { Lineage } = require("./lineage");

const TWO32 = 4294967296;

/** FNV-1a (32 bit) of a string, as an unsigned integer. */
function hash32(s) {
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) {
        h ^= s.charCodeAt(i);
        h = Math.imul(h, 0x01000193);
    }
    return h >>> 0;
}

/** Deterministic per-key decision at a rate; remembers the last key (a trace's deliveries). */
class Sampler {
    constructor(rate) {
        this.setRate(rate);
        this.lastKey = undefined;
        this.lastTake = false;
    }
    setRate(rate) {
        this.rate = rate;
        this.threshold = Math.floor(rate * TWO32);
        this.lastKey = undefined;
    }
    take(key) {
        if (key === this.lastKey) return this.lastTake;
        const take = typeof key === "string" ? hash32(key) < this.threshold : Math.random() < this.rate;
        this.lastKey = key;
        this.lastTake = take;
        return take;
    }
}

/** Delivery counts per wire (src, port, dst) since the last `drain()`. */
class WireCounts {
    constructor() {
        this.bySrc = new Map(); // src id -> Map(port-and-dst key -> index)
        this.wires = []; // index -> [src, port, dst]
        this.n = new Float64Array(64);
    }
    add(src, port, dst) {
        let m = this.bySrc.get(src);
        if (m === undefined) {
            m = new Map();
            this.bySrc.set(src, m);
        }
        const key = port === 0 ? dst : `${port}\u0000${dst}`;
        let k = m.get(key);
        if (k === undefined) {
            k = this.wires.length;
            this.wires.push([src, port, dst]);
            m.set(key, k);
            if (k >= this.n.length) {
                const bigger = new Float64Array(this.n.length * 2);
                bigger.set(this.n);
                this.n = bigger;
            }
        }
        this.n[k]++;
    }
    /** [[src, port, dst, n], ...] of the wires with deliveries since the last drain; resets. */
    drain() {
        const out = [];
        for (let k = 0; k < this.wires.length; k++) {
            if (this.n[k] > 0) {
                const [src, port, dst] = this.wires[k];
                out.push([src, port === undefined || port === null ? null : port, dst, this.n[k]]);
                this.n[k] = 0;
            }
        }
        return out;
    }
}

class SampledTap extends Tap {
    constructor(cfg, deps) {
        super(cfg, deps);
        this.adaptive = cfg.sampleMode === "adaptive";
        this.sampler = new Sampler(this.adaptive ? 1 : cfg.sample);
        this.wireCounts = new WireCounts();
        this.als = null; // no async hooks: see the module comment
        if (!this.lin) this.lin = new Lineage(cfg.lineageWindow); // parents of sampled deliveries
        this.nested = false;
        this.byMsgid = new Map(); // `${_msgid}\u0000${dst}` -> seq of the last recorded delivery
        this.byMsgidOld = new Map();
        this.countsSince = performance.now();
        this.busy = 0; // ms spent recording since the last adaptation
        this.sampled = 0;
        this.skipped = 0;
    }

    // ---- hook handlers ---------------------------------------------------------------------

    handleDeliver(ev) {
        try {
            const src = ev.source;
            const srcId = src.id;
            const msg = ev.msg;
            const dstId = ev.destination.id;
            this.wireCounts.add(srcId, src.port, dstId);
            let p = this.deliveries.get(msg);
            if (p === undefined || !this.lin.owns(p, srcId)) {
                const mid = msg._msgid;
                if (!this.sampler.take(mid)) {
                    this.skipped++;
                    return;
                }
                p = this.parentByMsgid(mid, srcId);
            }
            this.sampled++;
            const t = performance.now();
            const s = this.store;
            const seq = s.alloc(KIND.deliver, t);
            const i = s.slot(seq);
            const ids = s.nodeIds;
            s.src[i] = ids.id(srcId);
            s.port[i] = src.port;
            s.dst[i] = ids.id(dstId);
            this.link(seq, i, p, t, dstId, -1);
            const parts = this.parts ? this.parts.sending(srcId) : undefined;
            if (parts !== undefined) s.setParents(i, parts); // a join's sampled inputs
            this.deliveries.set(msg, seq);
            this.remember(msg._msgid, dstId, seq);
            this.projector.project(s, i, msg.payload);
            this.queued();
            this.busy += performance.now() - t;
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
                const n = dst.node;
                const type = n !== undefined ? n.type : undefined;
                this.lin.received(p, performance.now(), type === "link out");
                if (this.parts && this.parts.aggregates(type)) this.parts.received(dst.id, n, p);
                return;
            }
            this.receiveOffWire(msg, dst);
        } catch (err) {
            this.fail(err);
        }
    }

    /** Catch, status, complete and link-in receipts: recorded only for sampled messages. */
    receiveOffWire(msg, dst) {
        if (this.sampler.take(msg._msgid)) super.receiveOffWire(msg, dst);
    }

    handling() {
        return undefined;
    }

    enter(_p) {}

    // ---- lineage by _msgid -----------------------------------------------------------------

    parentByMsgid(mid, srcId) {
        if (typeof mid !== "string") return undefined;
        const key = `${mid}\u0000${srcId}`;
        let p = this.byMsgid.get(key);
        if (p === undefined) p = this.byMsgidOld.get(key);
        return p !== undefined && this.lin.owns(p, srcId) ? p : undefined;
    }

    remember(mid, dstId, seq) {
        if (typeof mid !== "string") return;
        if (this.byMsgid.size >= this.cfg.lineageWindow) {
            this.byMsgidOld = this.byMsgid; // two generations: bounded, recent ones kept
            this.byMsgid = new Map();
        }
        this.byMsgid.set(`${mid}\u0000${dstId}`, seq);
    }

    // ---- counts, adaptation ----------------------------------------------------------------

    flush() {
        const t = performance.now();
        super.flush();
        this.busy += performance.now() - t;
    }

    emitStats() {
        const now = performance.now();
        try {
            const wires = this.wireCounts.drain();
            if (wires.length > 0) {
                const seq = this.store.alloc(KIND.counts, now);
                this.store.counts.set(seq, { since: this.countsSince, sample: this.sampler.rate, wires });
            }
            this.countsSince = now;
            if (this.adaptive) this.adapt(now);
        } catch (err) {
            this.fail(err);
        }
        super.emitStats();
    }

    adapt(now) {
        const span = now - (this.adaptedAt === undefined ? this.startedAtPerf : this.adaptedAt);
        this.adaptedAt = now;
        if (!(span > 0)) return;
        const used = this.busy / span;
        this.busy = 0;
        this.lastUsed = used;
        const rate = this.sampler.rate;
        const budget = this.cfg.cpuBudget;
        if (used > budget && rate > this.cfg.sampleMin) {
            // straight to the power of two that fits (the cost is about proportional to the rate)
            const fits = rate * (budget / used);
            const level = Math.pow(2, Math.floor(Math.log2(fits)));
            this.sampler.setRate(Math.max(this.cfg.sampleMin, Math.min(rate / 2, level)));
        } else if (used < 0.4 * budget && rate < 1) {
            this.sampler.setRate(Math.min(1, rate * 2));
        }
    }

    start() {
        this.startedAtPerf = performance.now();
        super.start();
    }

    snapshot() {
        return Object.assign(super.snapshot(), {
            sample: this.sampler.rate,
            sample_mode: this.adaptive ? "adaptive" : "fixed",
            sampled_deliveries: this.sampled,
            skipped_deliveries: this.skipped,
            recording_cpu_share: this.lastUsed === undefined ? null : this.lastUsed,
        });
    }
}

/** The tap class for a config: sampling or not. */
function tapClass(cfg) {
    return cfg.sample < 1 || cfg.sampleMode === "adaptive" ? SampledTap : Tap;
}

module.exports = { SampledTap, Sampler, WireCounts, hash32, tapClass };
