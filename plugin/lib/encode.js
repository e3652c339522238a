"use strict";
/**
 * Records -> one JSON array (schema v1) written straight into a Buffer: integers digit by digit,
 * node ids from a cache of their JSON forms, constant parts copied. No intermediate strings per
 * record, which keeps the garbage collector out of the flush.
 */

const { performance } = require("perf_hooks");
const { KIND, KIND_NAMES, PTYPE_NAMES } = require("./store");

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Wall clock ns for a performance.now() value, exact, as (µs integer, ns remainder). */
class Clock {
    constructor() {
        this.originUs = Math.round(performance.timeOrigin * 1000);
    }
    ns(t) {
        const tns = Math.round(t * 1e6);
        const rem = tns % 1000;
        return [this.originUs + (tns - rem) / 1000, rem];
    }
    /** The same as a decimal string (for tests and logs). */
    nsString(t) {
        const [us, rem] = this.ns(t);
        return `${us}${String(rem).padStart(3, "0")}`;
    }
}

const lit = (s) => Buffer.from(s, "latin1");
const L = {
    seq: null, // per boot, built in the constructor
    ts: lit(',"ts_ns":'),
    kind: KIND_NAMES.map((k) => (k ? lit(`,"kind":"${k}","src":`) : null)),
    port: lit(',"port":'),
    dst: lit(',"dst":'),
    trace: lit(',"trace":'),
    parent: lit(',"parent":'),
    payloadNull: lit(',"payload":null'),
    ptype: PTYPE_NAMES.map((p) => (p ? lit(`,"payload":{"type":"${p}","len":`) : null)),
    values: lit(',"values":{'),
    valuesPayload: lit(',"values":{"payload":'),
    close2: lit("}}"),
    bytes: lit(',"bytes":'),
    latency: lit(',"latency_ns":'),
    error: lit(',"error":'),
    recorded: lit(',"recorded":'),
    dropped: lit(',"dropped":'),
    failed: lit(',"failed":'),
    queue: lit(',"queue":'),
    null: lit("null"),
};

const digits = new Uint8Array(24);

function put(buf, o, src) {
    const n = src.length;
    for (let k = 0; k < n; k++) buf[o + k] = src[k];
    return o + n;
}

/** A non-negative integer < 2^53. */
function putUint(buf, o, n) {
    if (n < 10) {
        buf[o] = 48 + n;
        return o + 1;
    }
    let k = 0;
    while (n > 0) {
        const q = Math.floor(n / 10);
        digits[k++] = 48 + (n - q * 10);
        n = q;
    }
    while (k > 0) buf[o++] = digits[--k];
    return o;
}

/** Any finite number, as JSON. */
function putNumber(buf, o, n) {
    if (Number.isInteger(n) && n <= MAX_SAFE && n >= -MAX_SAFE) {
        if (n < 0) {
            buf[o++] = 45;
            n = -n;
        }
        return putUint(buf, o, n);
    }
    return o + buf.latin1Write(String(n), o);
}

function putNullable(buf, o, n) {
    return n < 0 ? put(buf, o, L.null) : putUint(buf, o, n);
}

class Encoder {
    constructor(instance, boot) {
        this.headSeq = lit(`{"v":1,"tap":${JSON.stringify(instance)},"boot":${JSON.stringify(boot)},"seq":`);
        this.clock = new Clock();
        this.ids = new Map();
    }

    id(v) {
        if (v === null || v === undefined) return L.null;
        let b = this.ids.get(v);
        if (b === undefined) {
            b = Buffer.from(JSON.stringify(String(v)), "utf8");
            if (this.ids.size >= 65536) this.ids.clear();
            this.ids.set(v, b);
        }
        return b;
    }

    /** Encode records [from, to) of the store as one JSON array in a Buffer. */
    encode(store, from, to) {
        const head = this.headSeq.length;
        let bound = 2;
        for (let seq = from; seq < to; seq++) {
            const i = store.slot(seq);
            bound += head + 420 + this.id(store.src[i]).length + this.id(store.dst[i]).length;
            bound += store.pvals[i].length * 3;
            if (store.error[i] !== null) bound += store.error[i].length * 6 + 2;
        }
        const buf = Buffer.allocUnsafe(bound);
        let o = 0;
        buf[o++] = 91; // [
        for (let seq = from; seq < to; seq++) {
            if (seq !== from) buf[o++] = 44; // ,
            o = this.record(buf, o, store, seq);
        }
        buf[o++] = 93; // ]
        return buf.subarray(0, o);
    }

    record(buf, o, s, seq) {
        const i = s.slot(seq);
        o = put(buf, o, this.headSeq);
        o = putUint(buf, o, seq);
        o = put(buf, o, L.ts);
        const [us, rem] = this.clock.ns(s.t[i]);
        o = putUint(buf, o, us);
        buf[o++] = 48 + Math.floor(rem / 100);
        buf[o++] = 48 + (Math.floor(rem / 10) % 10);
        buf[o++] = 48 + (rem % 10);
        o = put(buf, o, L.kind[s.kind[i]]);
        o = put(buf, o, this.id(s.src[i]));
        o = put(buf, o, L.port);
        o = putNullable(buf, o, s.port[i]);
        o = put(buf, o, L.dst);
        o = put(buf, o, this.id(s.dst[i]));
        o = put(buf, o, L.trace);
        o = putNullable(buf, o, s.trace[i]);
        o = put(buf, o, L.parent);
        o = putNullable(buf, o, s.parent[i]);
        const pt = s.ptype[i];
        if (pt === 0) {
            o = put(buf, o, L.payloadNull);
        } else {
            o = put(buf, o, L.ptype[pt]);
            o = putNullable(buf, o, s.plen[i]);
            if (s.hasNum[i] === 1) {
                o = put(buf, o, L.valuesPayload);
                o = putNumber(buf, o, s.pnum[i]);
            } else {
                o = put(buf, o, L.values);
                const v = s.pvals[i];
                if (v.length > 0) o += buf.utf8Write(v, o);
            }
            o = put(buf, o, L.close2);
        }
        o = put(buf, o, L.bytes);
        o = putNullable(buf, o, s.bytes[i]);
        o = put(buf, o, L.latency);
        o = s.lat[i] < 0 ? put(buf, o, L.null) : putUint(buf, o, Math.round(s.lat[i] * 1e6));
        o = put(buf, o, L.error);
        const err = s.error[i];
        o = err === null ? put(buf, o, L.null) : o + buf.utf8Write(JSON.stringify(err), o);
        if (s.kind[i] === KIND.stats) {
            const st = s.extra[i];
            o = put(buf, o, L.recorded);
            o = putUint(buf, o, st.recorded);
            o = put(buf, o, L.dropped);
            o = putUint(buf, o, st.dropped);
            o = put(buf, o, L.failed);
            o = putUint(buf, o, st.failed);
            o = put(buf, o, L.queue);
            o = putUint(buf, o, st.queue);
        }
        buf[o++] = 125; // }
        return o;
    }
}

module.exports = { Encoder, Clock, putNumber, putUint };
