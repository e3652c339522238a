"use strict";
/** Batches of records -> one JSON array (schema v1) in a Buffer. */

const { performance } = require("perf_hooks");
const { KIND, KIND_NAMES, PTYPE_NAMES } = require("./store");

/**
 * Wall clock ns for a performance.now() value of the thread whose time origin is `originUs`
 * (µs since the epoch; a worker has its own origin, so the recording thread passes its own),
 * exact, as (µs integer, ns remainder).
 */
class Clock {
    constructor(originUs) {
        this.originUs = originUs === undefined ? Clock.here() : originUs;
    }
    static here() {
        return Math.round(performance.timeOrigin * 1000);
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

const PAD3 = Array.from({ length: 1000 }, (_, k) => String(k).padStart(3, "0"));
const KIND_JSON = KIND_NAMES.map((k) => (k ? `"${k}"` : "null"));
const PAYLOAD_HEAD = PTYPE_NAMES.map((p) => (p ? `{"type":"${p}","len":` : null));

function nul(n) {
    return n < 0 ? "null" : n;
}

/**
 * Encodes batches (store.js `take`) of one tap boot. Keeps the tables of interned node ids (as
 * JSON strings) and payload paths (`"path":`); `learn()` extends them with the entries a batch
 * brings (in a worker thread the tables arrive with the batches). Each record is one template
 * string written into the batch Buffer (V8's number formatting and string writes beat writing
 * bytes one by one from JS); the garbage stays in the shipping thread's heap.
 */
class Encoder {
    constructor(instance, boot, originUs) {
        this.head = `{"v":1,"tap":${JSON.stringify(instance)},"boot":${JSON.stringify(boot)},"seq":`;
        this.clock = new Clock(originUs);
        this.ids = []; // node id -> JSON string
        this.paths = []; // path id -> `"path":`
        this.middles = new Map();
        this.sec = -1;
        this.secStr = "";
    }

    /** Add interned entries: node ids (strings) and path keys (`"path":` strings). */
    learn(ids, paths) {
        if (ids) for (const id of ids) this.ids.push(JSON.stringify(String(id)));
        if (paths) for (const p of paths) this.paths.push(p);
    }

    /** Records [r0, r1) of a batch (default: all) as one JSON array in a Buffer. */
    encode(b, r0 = 0, r1 = b.n) {
        let buf = Buffer.allocUnsafe((r1 - r0) * 512 + 64);
        let o = 0;
        buf[o++] = 91; // [
        let v = 0; // position in b.vals
        for (let r = 0; r < r0; r++) v += b.vcount[r];
        for (let r = r0; r < r1; r++) {
            const rec = this.record(b, r, v);
            v += b.vcount[r];
            const need = o + rec.length * 3 + 2;
            if (need > buf.length) {
                const bigger = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
                buf.copy(bigger, 0, 0, o);
                buf = bigger;
            }
            if (r !== r0) buf[o++] = 44; // ,
            o += buf.utf8Write(rec, o);
        }
        buf[o++] = 93; // ]
        return buf.subarray(0, o);
    }

    /** `"payload":...` of record r (values from position v of the batch's values). */
    payload(b, r, v) {
        const pt = b.ptype[r];
        if (pt === 0) return "null";
        if (b.hasNum[r] === 1) return `${PAYLOAD_HEAD[pt]}${nul(b.plen[r])},"values":{"payload":${b.pnum[r]}}}`;
        const n = b.vcount[r];
        let vals = "";
        for (let k = 0; k < n; k++) {
            const kv = `${this.paths[b.vkey[v + k]]}${b.vals[v + k]}`;
            vals = k === 0 ? kv : `${vals},${kv}`;
        }
        return `${PAYLOAD_HEAD[pt]}${nul(b.plen[r])},"values":{${vals}}}`;
    }

    /** ts_ns as a string: the seconds part is cached, the rest comes from 3-digit tables. */
    ts(t) {
        const tns = Math.round(t * 1e6);
        const rem = tns % 1000;
        const us = this.clock.originUs + (tns - rem) / 1000;
        const sec = Math.floor(us / 1e6);
        if (sec !== this.sec) {
            this.sec = sec;
            this.secStr = String(sec);
        }
        const sub = us - sec * 1e6;
        const ms = Math.floor(sub / 1000);
        return `${this.secStr}${PAD3[ms]}${PAD3[sub - ms * 1000]}${PAD3[rem]}`;
    }

    /** `,"kind":...,"src":...,"port":...,"dst":...,"trace":` for a (kind, src, port, dst). */
    middle(kind, src, port, dst) {
        const key = ((src + 1) * 1048577 + (dst + 1)) * 64 * 8 + (port + 1) * 8 + kind;
        let m = this.middles.get(key);
        if (m === undefined) {
            const s = src < 0 ? "null" : this.ids[src];
            const d = dst < 0 ? "null" : this.ids[dst];
            m = `,"kind":${KIND_JSON[kind]},"src":${s},"port":${nul(port)},"dst":${d},"trace":`;
            if (this.middles.size >= 65536) this.middles.clear();
            if (port < 63) this.middles.set(key, m);
        }
        return m;
    }

    record(b, r, v) {
        const seq = b.seq0 + r;
        const kind = b.kind[r];
        const lat = b.lat[r] < 0 ? "null" : Math.round(b.lat[r] * 1e6);
        const text = b.texts !== null ? b.texts[seq] : undefined;
        const err = text === undefined ? "null" : JSON.stringify(text);
        let out =
            `${this.head}${seq},"ts_ns":${this.ts(b.t[r])}${this.middle(kind, b.src[r], b.port[r], b.dst[r])}` +
            `${nul(b.trace[r])},"parent":${nul(b.parent[r])},"payload":${this.payload(b, r, v)},` +
            `"bytes":${nul(b.bytes[r])},"latency_ns":${lat},"error":${err}`;
        const np = b.pcount[r];
        if (np > 0) {
            const k0 = b.pstart[r] - b.p0;
            let ps = `${b.pars[k0]}`;
            for (let k = 1; k < np; k++) ps = `${ps},${b.pars[k0 + k]}`;
            out += `,"parents":[${ps}]`;
        }
        if (kind === KIND.stats && b.stats !== null && b.stats[seq] !== undefined) {
            const st = b.stats[seq];
            out += `,"recorded":${st.recorded},"dropped":${st.dropped},"failed":${st.failed},"queue":${st.queue}`;
        }
        if (kind === KIND.counts && b.counts !== null && b.counts[seq] !== undefined) {
            const c = b.counts[seq];
            out += `,"since_ns":${this.ts(c.since)},"sample":${c.sample},"counts":${JSON.stringify(c.wires)}`;
        }
        return `${out}}`;
    }
}

module.exports = { Encoder, Clock };
