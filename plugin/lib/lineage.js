"use strict";
/**
 * What lineage needs to know about recent deliveries, without an object per delivery: for the
 * last `window` deliveries (a ring indexed by seq), the destination node, the trace, the time the
 * destination received it, and flags. A delivery older than the window is forgotten: a message
 * held longer than `window` deliveries (a long delay under heavy traffic) starts a new lineage
 * when it is sent on.
 */

const RET = 1; // the destination is a link out: a link call may send on its behalf

class Lineage {
    constructor(window) {
        this.window = window;
        this.seqAt = new Float64Array(window);
        this.traceAt = new Float64Array(window);
        this.rtAt = new Float64Array(window); // receive time at dst (ms), -1 before
        this.dstAt = new Array(window).fill(null);
        this.flags = new Uint8Array(window);
    }

    add(seq, trace, dst, rt) {
        const i = seq % this.window;
        this.seqAt[i] = seq;
        this.traceAt[i] = trace;
        this.dstAt[i] = dst;
        this.rtAt[i] = rt;
        this.flags[i] = 0;
    }

    /** Whether delivery p is known and went to nodeId. */
    owns(p, nodeId) {
        const i = p % this.window;
        return this.seqAt[i] === p && this.dstAt[i] === nodeId;
    }

    known(p) {
        return this.seqAt[p % this.window] === p;
    }

    trace(p) {
        return this.traceAt[p % this.window];
    }

    rt(p) {
        return this.rtAt[p % this.window];
    }

    received(p, t, isLinkOut) {
        const i = p % this.window;
        this.rtAt[i] = t;
        if (isLinkOut) this.flags[i] |= RET;
    }

    isReturn(p) {
        const i = p % this.window;
        return this.seqAt[i] === p && (this.flags[i] & RET) !== 0;
    }

    dst(p) {
        return this.dstAt[p % this.window];
    }
}

/**
 * The contexts of nested input handlers (sync delivery runs a receiver inside its sender's
 * call): onReceive pushes what was current before, postReceive pops back to it. Entries name the message and node they belong to, so a missing
 * postReceive (another hook halted the chain) cannot unbalance the stack for long.
 */
class ContextStack {
    constructor() {
        this.msgs = [];
        this.dsts = [];
        this.prevs = [];
        this.depth = 0;
    }

    push(msg, dst, prev) {
        const d = this.depth++;
        this.msgs[d] = msg;
        this.dsts[d] = dst;
        this.prevs[d] = prev;
    }

    /** Pop back to the entry of (msg, dst); returns {found, prev}. */
    pop(msg, dst) {
        for (let d = this.depth - 1; d >= 0; d--) {
            if (this.msgs[d] === msg && this.dsts[d] === dst) {
                const prev = this.prevs[d];
                for (let k = d; k < this.depth; k++) {
                    this.msgs[k] = null;
                    this.prevs[k] = undefined;
                }
                this.depth = d;
                return prev;
            }
        }
        return NOT_FOUND;
    }
}

const NOT_FOUND = Symbol("not found");

/**
 * Multi-parent lineage of aggregating nodes (join, batch, ...: `causalTap.aggregateTypes`): per
 * node, the deliveries it received since it last sent (the parts of what it sends next). One ring
 * of `max` seqs per node, allocated once (nothing per delivery); more parts than that keep the
 * newest `max` and count the sends that lost some in `truncated`.
 *
 * A node's sends in one synchronous run are one *burst* (a batch node sends its whole sequence at
 * once; a send to several wires is several deliveries): they all get the same parts. The burst
 * ends with the run (a microtask), and the node's next receive starts a new set of parts. So a
 * join by count gets exactly its group's parts. A batch by count with an overlap re-sends the
 * newest `overlap` messages of the previous batch: those stay parts of the next burst (read from
 * the node's flow config), so every window lists all the readings it holds. Limits: a join in
 * automatic mode fed by interleaved sequences (two splits in flight) lists the parts of both
 * received since its last send; a join in "accumulate" mode lists only the parts that arrived
 * since its previous output.
 */
class Parts {
    constructor(types, max) {
        this.types = new Set(types);
        this.max = max;
        this.byNode = new Map(); // node id -> PartsOf
        this.truncated = 0;
    }

    /** Whether nodes of this type aggregate (their sends get `parents`). */
    aggregates(type) {
        return this.types.has(type);
    }

    /** Delivery p reached aggregating node (nodeId, node object). */
    received(nodeId, node, p) {
        let st = this.byNode.get(nodeId);
        if (st === undefined || st.node !== node) {
            // a new node, or a redeployed one (new object): start clean
            if (this.byNode.size >= 65536) this.byNode.clear();
            st = new PartsOf(node, this.max, overlapOf(node));
            this.byNode.set(nodeId, st);
        }
        st.add(p);
    }

    /** The parts of nodeId's current burst (starts the burst), or undefined if it has none. */
    sending(nodeId) {
        if (this.byNode.size === 0) return undefined;
        const st = this.byNode.get(nodeId);
        if (st === undefined || st.total === 0) return undefined;
        if (!st.burst) {
            st.burst = true;
            if (st.total > this.max) this.truncated++;
            queueMicrotask(st.end);
        }
        return st;
    }
}

/** How many parts a node keeps for its next burst: a batch by count's `overlap`, else 0. */
function overlapOf(node) {
    try {
        if (node === undefined || node.type !== "batch") return 0;
        const flow = node._flow && node._flow.flow;
        const cfg = flow && flow.nodes && flow.nodes[node.id];
        if (!cfg || cfg.mode !== "count") return 0;
        const overlap = Math.floor(Number(cfg.overlap));
        return overlap > 0 ? overlap : 0;
    } catch (_) {
        return 0; // a runtime without the config where we look: no overlap, as before
    }
}

/** The parts of one aggregating node: a ring of seqs; `total` received since the last burst
 * (plus the `keep` newest of the burst before, a batch's overlap). */
class PartsOf {
    constructor(node, max, keep = 0) {
        this.node = node;
        this.seqs = new Float64Array(max);
        this.keep = Math.min(keep, max - 1);
        this.total = 0;
        this.burst = false;
        // the range of the store's parents ring holding this burst's copy (see RecordStore)
        this.start = -1;
        this.count = 0;
        this.end = () => {
            if (this.burst) {
                this.burst = false;
                this.carry();
            }
        };
    }

    /** Start the next set of parts: empty, or the `keep` newest of this one. */
    carry() {
        const k = Math.min(this.keep, this.size);
        this.start = -1;
        if (k === 0) {
            this.total = 0;
            return;
        }
        const kept = [];
        for (let j = this.size - k; j < this.size; j++) kept.push(this.at(j));
        kept.forEach((p, j) => (this.seqs[j] = p));
        this.total = k;
    }

    add(p) {
        if (this.burst) {
            // received while its burst is still running (synchronous delivery back to itself)
            this.burst = false;
            this.carry();
        }
        this.seqs[this.total % this.seqs.length] = p;
        this.total++;
        this.start = -1;
    }

    /** Number of parts held (the newest, at most the ring's size). */
    get size() {
        return Math.min(this.total, this.seqs.length);
    }

    /** The k-th held part, oldest first. */
    at(k) {
        const n = this.seqs.length;
        const first = this.total > n ? this.total % n : 0;
        return this.seqs[(first + k) % n];
    }
}

module.exports = { Lineage, ContextStack, Parts, NOT_FOUND };
