"use strict";
/**
 * The bounded record queue, stored column-wise in typed arrays so that recording allocates no
 * object per record (the garbage collector was the largest cost of an object per record).
 *
 * Every record gets the next `seq`; record `seq` lives in slot `seq % capacity`. The queue holds
 * the seqs [first, next). When a new record would exceed the capacity, the oldest is evicted
 * (`first` advances, `dropped` counts it): the queue never blocks and never grows. Node ids and
 * payload paths are interned to small integers (tables shipped with the batches); the numeric
 * leaves of object payloads go to a values ring shared by all records. The `parents` of
 * aggregating nodes' sends go to a parents ring: record i refers to the range
 * [pstart[i], pstart[i] + pcount[i]), and the deliveries of one burst share one range (so a batch
 * node sending n messages of n parts stores n seqs, not n * n). pstart never decreases from one
 * record to the next (a record without parents points at the start of the newest range), so the
 * oldest queued record bounds what the queue still needs. Error texts and stats counters, which
 * are rare, live in maps keyed by seq.
 *
 * `take(n)` cuts the oldest records out as a self-contained batch (copies of the column slices in
 * one ArrayBuffer, transferable to a worker thread), which the encoder turns into JSON.
 */

const KIND = Object.freeze({ deliver: 1, error: 2, complete: 3, stats: 4, counts: 5 });
const KIND_NAMES = [null, "deliver", "error", "complete", "stats", "counts"];
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

/** Column name -> typed array constructor (one entry per record). */
const COLUMNS = {
    kind: Uint8Array,
    t: Float64Array, // performance.now() ms at creation
    src: Int32Array, // interned node id, -1: null
    dst: Int32Array,
    port: Int32Array, // -1: null
    trace: Float64Array, // -1: null
    parent: Float64Array, // -1: null
    lat: Float64Array, // ms, -1: null
    ptype: Uint8Array,
    plen: Float64Array, // -1: null
    pnum: Float64Array, // the value of a scalar payload, if hasNum
    hasNum: Uint8Array,
    bytes: Float64Array, // -1: null
    vstart: Float64Array, // first value in the values ring (running index)
    vcount: Int32Array,
    pstart: Float64Array, // first parent in the parents ring (running index)
    pcount: Int32Array,
};
const COLUMN_NAMES = Object.keys(COLUMNS);

/** Interning of strings to dense integers; `fresh()` returns the entries added since last call. */
class Interner {
    constructor(max) {
        this.max = max;
        this.ids = new Map();
        this.list = [];
        this.shipped = 0;
    }
    /** The id of s, or -1 when the table is full (the caller records null). */
    id(s) {
        let k = this.ids.get(s);
        if (k === undefined) {
            if (this.list.length >= this.max) return -1;
            k = this.list.length;
            this.ids.set(s, k);
            this.list.push(s);
        }
        return k;
    }
    fresh() {
        if (this.shipped === this.list.length) return null;
        const out = this.list.slice(this.shipped);
        this.shipped = this.list.length;
        return out;
    }
}

class RecordStore {
    /**
     * @param {number} capacity records
     * @param {number} valuesCapacity numeric leaves of object payloads held by queued records
     */
    constructor(capacity, valuesCapacity, parentsCapacity = 1024) {
        this.capacity = capacity;
        this.pcap = parentsCapacity;
        this.pars = new Float64Array(parentsCapacity);
        this.pnext = 0; // running index of the next parent written
        this.plast = 0; // start of the newest range
        for (const name of COLUMN_NAMES) this[name] = new COLUMNS[name](capacity);
        this.vcap = valuesCapacity;
        this.vals = new Float64Array(valuesCapacity);
        this.vkey = new Int32Array(valuesCapacity);
        this.vnext = 0;
        this.texts = new Map(); // seq -> error text
        this.stats = new Map(); // seq -> counters of a stats record
        this.counts = new Map(); // seq -> {since, wires} of a counts record (sampling)
        this.nodeIds = new Interner(1 << 20);
        this.first = 1;
        this.next = 1;
        this.dropped = 0;
    }

    get size() {
        return this.next - this.first;
    }

    slot(seq) {
        return seq % this.capacity;
    }

    /** Start a record: assigns its seq, resets its slot; evicts the oldest record when full. */
    alloc(kind, t) {
        const seq = this.next++;
        if (seq - this.first >= this.capacity) this.evictOldest();
        const i = seq % this.capacity;
        this.kind[i] = kind;
        this.t[i] = t;
        this.src[i] = -1;
        this.dst[i] = -1;
        this.port[i] = -1;
        this.trace[i] = -1;
        this.parent[i] = -1;
        this.lat[i] = -1;
        this.ptype[i] = 0;
        this.plen[i] = -1;
        this.hasNum[i] = 0;
        this.bytes[i] = -1;
        this.vstart[i] = this.vnext;
        this.vcount[i] = 0;
        this.pstart[i] = this.plast;
        this.pcount[i] = 0;
        return seq;
    }

    evictOldest() {
        const seq = this.first++;
        this.dropped++;
        if (this.texts.size > 0) this.texts.delete(seq);
        if (this.stats.size > 0) this.stats.delete(seq);
        if (this.counts.size > 0) this.counts.delete(seq);
    }

    node(i, column, id) {
        this[column][i] = id === null || id === undefined ? -1 : this.nodeIds.id(id);
    }

    /** Append a numeric leaf (path id, value) to record slot i (the newest record). */
    addValue(i, key, value) {
        // the values of the oldest queued records are overwritten last: evict them first
        while (this.size > 1 && this.vnext - this.vstart[this.first % this.capacity] >= this.vcap) {
            this.evictOldest();
        }
        const j = this.vnext % this.vcap;
        this.vals[j] = value;
        this.vkey[j] = key;
        this.vnext++;
        this.vcount[i]++;
    }

    /**
     * Give record slot i (the newest record) the parts of `parts` (lineage.js PartsOf) as its
     * parents: the range the burst already has if it is still the newest, else a new copy.
     */
    setParents(i, parts) {
        if (parts.start < 0 || parts.start + parts.count !== this.pnext || parts.start !== this.plast) {
            const n = Math.min(parts.size, this.pcap >> 1);
            // the ranges of the oldest queued records are overwritten last: evict them first
            while (this.size > 1 && this.pnext + n - this.pstart[this.first % this.capacity] > this.pcap) {
                this.evictOldest();
            }
            const start = this.pnext;
            const skip = parts.size - n;
            for (let k = 0; k < n; k++) this.pars[(start + k) % this.pcap] = parts.at(skip + k);
            this.pnext = start + n;
            this.plast = start;
            parts.start = start;
            parts.count = n;
        }
        this.pstart[i] = parts.start;
        this.pcount[i] = parts.count;
    }

    /**
     * Cut the up to n oldest records out of the queue as a self-contained batch: copies of the
     * column slices, all in one ArrayBuffer (`batch.buffer`, cheap to transfer to a worker).
     */
    take(n) {
        const from = this.first;
        // a batch does not wrap around the end of the ring (so its columns are plain slices)
        const toEnd = this.capacity - (from % this.capacity);
        const to = Math.min(this.next, from + n, from + toEnd);
        this.first = to;
        const a = from % this.capacity;
        const count = to - from;
        let v0 = 0;
        let nv = 0;
        if (count > 0) {
            v0 = this.vstart[a];
            nv = this.vstart[a + count - 1] + this.vcount[a + count - 1] - v0;
        }
        // the parents the batch refers to: from its first record's range to the furthest end
        let p0 = 0;
        let p1 = 0;
        if (count > 0) {
            p0 = this.pstart[a];
            p1 = p0;
            for (let k = a; k < a + count; k++) {
                const e = this.pstart[k] + this.pcount[k];
                if (e > p1) p1 = e;
            }
        }
        const np = p1 - p0;
        let bytes = 0;
        for (const name of COLUMN_NAMES) bytes += align8(count * COLUMNS[name].BYTES_PER_ELEMENT);
        bytes += nv * 8 + align8(nv * 4) + np * 8;
        const buffer = new ArrayBuffer(bytes);
        const batch = { seq0: from, n: count, buffer, texts: null, stats: null, counts: null, vals: null, vkey: null, pars: null, p0 };
        let off = 0;
        for (const name of COLUMN_NAMES) {
            const Ctor = COLUMNS[name];
            const view = new Ctor(buffer, off, count);
            view.set(this[name].subarray(a, a + count));
            batch[name] = view;
            off += align8(count * Ctor.BYTES_PER_ELEMENT);
        }
        batch.vals = new Float64Array(buffer, off, nv);
        ringCopy(this.vals, v0, nv, batch.vals);
        off += nv * 8;
        batch.vkey = new Int32Array(buffer, off, nv);
        ringCopy(this.vkey, v0, nv, batch.vkey);
        off += align8(nv * 4);
        batch.pars = new Float64Array(buffer, off, np);
        if (np > 0) ringCopy(this.pars, p0, np, batch.pars);
        if (this.texts.size > 0) batch.texts = takeRange(this.texts, from, to);
        if (this.stats.size > 0) batch.stats = takeRange(this.stats, from, to);
        if (this.counts.size > 0) batch.counts = takeRange(this.counts, from, to);
        return batch;
    }

    /** Forget everything queued; returns how many records that was. */
    clear() {
        const n = this.size;
        this.first = this.next;
        this.texts.clear();
        this.stats.clear();
        this.counts.clear();
        return n;
    }
}

function align8(n) {
    return (n + 7) & ~7;
}

/** Copy n entries of a ring array starting at running index v0 into out. */
function ringCopy(arr, v0, n, out) {
    const cap = arr.length;
    const a = v0 % cap;
    if (a + n <= cap) {
        out.set(arr.subarray(a, a + n));
    } else {
        out.set(arr.subarray(a, cap), 0);
        out.set(arr.subarray(0, n - (cap - a)), cap - a);
    }
}

function takeRange(map, from, to) {
    let out = null;
    for (const [seq, v] of map) {
        if (seq < to) {
            if (seq >= from) {
                if (out === null) out = {};
                out[seq] = v;
            }
            map.delete(seq);
        }
    }
    return out;
}

module.exports = { RecordStore, Interner, KIND, KIND_NAMES, PTYPE, PTYPE_NAMES, COLUMN_NAMES };
