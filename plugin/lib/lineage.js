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
        this.prevAt = null; // sync delivery only: the sender's store while the receiver runs
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

    setPrev(p, store) {
        if (this.prevAt === null) this.prevAt = new Float64Array(this.window);
        this.prevAt[p % this.window] = store === undefined ? 0 : store;
    }

    /** Take the saved sender store (0 = none) of p. */
    takePrev(p) {
        if (this.prevAt === null) return 0;
        const i = p % this.window;
        const v = this.prevAt[i];
        this.prevAt[i] = 0;
        return v;
    }
}

module.exports = { Lineage };
