"use strict";
/**
 * The bounded record queue, stored column-wise in typed arrays so that recording allocates no
 * object per record (the garbage collector was the largest cost of an object per record).
 *
 * Every record gets the next `seq`; record `seq` lives in slot `seq % capacity`. The queue holds
 * the seqs [first, next). When a new record would exceed the capacity, the oldest is evicted
 * (`first` advances, `dropped` counts it): the queue never blocks and never grows.
 */

const KIND = Object.freeze({ deliver: 1, error: 2, complete: 3, stats: 4 });
const KIND_NAMES = [null, "deliver", "error", "complete", "stats"];
/** Payload types; 0 = the record has no payload object (error, stats). */
const PTYPE = Object.freeze({
    none: 0,
    number: 1,
    string: 2,
    object: 3,
    array: 4,
    buffer: 5,
    boolean: 6,
    null: 7,
    undefined: 8,
});
const PTYPE_NAMES = ["", "number", "string", "object", "array", "buffer", "boolean", "null", "undefined"];

class RecordStore {
    constructor(capacity) {
        this.capacity = capacity;
        this.kind = new Uint8Array(capacity);
        this.t = new Float64Array(capacity); // performance.now() ms at creation
        this.src = new Array(capacity).fill(null);
        this.dst = new Array(capacity).fill(null);
        this.port = new Int32Array(capacity); // -1: null
        this.trace = new Float64Array(capacity); // -1: null
        this.parent = new Float64Array(capacity); // -1: null
        this.lat = new Float64Array(capacity); // ms, -1: null
        this.ptype = new Uint8Array(capacity);
        this.plen = new Float64Array(capacity); // -1: null
        this.pnum = new Float64Array(capacity); // the value of a scalar payload, if hasNum
        this.hasNum = new Uint8Array(capacity);
        this.pvals = new Array(capacity).fill(""); // JSON fragment of an object's numeric leaves
        this.bytes = new Float64Array(capacity); // -1: null
        this.error = new Array(capacity).fill(null);
        this.extra = new Array(capacity).fill(null); // stats counters
        this.first = 1;
        this.next = 1;
        this.dropped = 0;
    }

    get size() {
        return this.next - this.first;
    }

    /** Start a record: assigns its seq, resets its slot; evicts the oldest record when full. */
    alloc(kind, t) {
        const seq = this.next++;
        if (seq - this.first >= this.capacity) {
            this.first++;
            this.dropped++;
        }
        const i = seq % this.capacity;
        this.kind[i] = kind;
        this.t[i] = t;
        this.src[i] = null;
        this.dst[i] = null;
        this.port[i] = -1;
        this.trace[i] = -1;
        this.parent[i] = -1;
        this.lat[i] = -1;
        this.ptype[i] = 0;
        this.plen[i] = -1;
        this.hasNum[i] = 0;
        this.pvals[i] = "";
        this.bytes[i] = -1;
        this.error[i] = null;
        this.extra[i] = null;
        return seq;
    }

    slot(seq) {
        return seq % this.capacity;
    }

    /** Take up to n oldest seqs out of the queue: returns [from, to). */
    take(n) {
        const from = this.first;
        const to = Math.min(this.next, from + n);
        this.first = to;
        return [from, to];
    }

    /** Forget everything queued (counted as dropped by the caller). */
    clear() {
        const n = this.size;
        this.first = this.next;
        return n;
    }
}

module.exports = { RecordStore, KIND, KIND_NAMES, PTYPE, PTYPE_NAMES };
