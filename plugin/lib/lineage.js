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

module.exports = { Lineage, ContextStack, NOT_FOUND };
