"use strict";
/**
 * Payload projection: what the tap keeps of `msg.payload`.
 *
 * Only the type, a length, an approximate size and the numeric leaves (bounded depth, count and
 * walk budget) are kept, never the value itself. Booleans count as 0/1, numeric strings of up to
 * 32 characters as numbers, Buffers and typed arrays only as their length. Keys that look like
 * credentials (password, secret, token, auth, api key, credentials) are skipped with their subtree.
 *
 * The numeric leaves of an object are written straight away as a JSON fragment
 * (`"payload.a":1,"payload.b[0]":2`), so the record holds one string and no reference into the
 * message, and the later batch serialisation only concatenates. A number payload is kept as a
 * number field (no allocation).
 *
 * `bytes` is an estimate of the JSON size of the payload, computed by the same bounded walk: exact
 * for numbers (as printed), strings (UTF-16 code units + 2) and Buffers (their length); for
 * objects and arrays the sum over the visited entries of key length + 4 (quotes, colon, comma) +
 * the value's estimate; once the walk budget is spent, the remaining entries are not visited and
 * `bytes` is a lower bound.
 */

const DENY = /pass(word|wd)?|secret|token|credential|api[-_]?key|auth|cookie|session/i;
const SAFE_KEY = /^[A-Za-z_$][\w$-]*$/;
const NUMERIC_STRING_MAX = 32;

const keyCache = new Map(); // key -> 0 deny, 1 safe, 2 needs quoting
const KEY_CACHE_MAX = 4096;

function keyClass(key) {
    let c = keyCache.get(key);
    if (c === undefined) {
        c = DENY.test(key) ? 0 : SAFE_KEY.test(key) ? 1 : 2;
        if (keyCache.size < KEY_CACHE_MAX) keyCache.set(key, c);
    }
    return c;
}

function numericString(s) {
    if (s.length === 0 || s.length > NUMERIC_STRING_MAX) return NaN;
    const c = s.charCodeAt(0);
    // quick reject: must start with a digit, sign, dot or space
    if (!((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 32)) return NaN;
    const n = Number(s);
    return Number.isFinite(n) && s.trim() !== "" ? n : NaN;
}

// Walk state, reused (the tap runs on one thread and the walk is synchronous).
const W = { out: "", leaves: 0, budget: 0, bytes: 0, maxLeaves: 0, maxDepth: 0, quoted: false };

function emit(path, n) {
    if (W.leaves >= W.maxLeaves) return;
    W.leaves++;
    const key = W.quoted ? JSON.stringify(path) : `"${path}"`;
    W.out = W.out === "" ? `${key}:${n}` : `${W.out},${key}:${n}`;
}

function walkValue(v, path, depth) {
    if (--W.budget < 0) return;
    switch (typeof v) {
        case "number":
            W.bytes += 8;
            if (Number.isFinite(v)) emit(path, v);
            return;
        case "boolean":
            W.bytes += v ? 4 : 5;
            emit(path, v ? 1 : 0);
            return;
        case "string": {
            W.bytes += v.length + 2;
            const n = numericString(v);
            if (n === n) emit(path, n);
            return;
        }
        case "bigint":
            W.bytes += 8;
            emit(path, Number(v));
            return;
        case "object":
            if (v === null) {
                W.bytes += 4;
                return;
            }
            if (ArrayBuffer.isView(v)) {
                W.bytes += v.byteLength;
                return;
            }
            if (depth >= W.maxDepth) {
                W.bytes += 2;
                return;
            }
            if (Array.isArray(v)) {
                W.bytes += 2;
                const n = v.length;
                for (let i = 0; i < n && W.budget > 0; i++) {
                    W.bytes += 1;
                    walkValue(v[i], `${path}[${i}]`, depth + 1);
                }
                return;
            }
            walkObject(v, path, depth);
            return;
        default:
            return;
    }
}

function walkObject(o, path, depth) {
    W.bytes += 2;
    for (const key in o) {
        if (W.budget <= 0) return;
        if (!Object.prototype.hasOwnProperty.call(o, key)) continue;
        const c = keyClass(key);
        if (c === 0) continue;
        W.bytes += key.length + 4;
        if (c === 1) {
            walkValue(o[key], `${path}.${key}`, depth + 1);
        } else {
            const wasQuoted = W.quoted;
            W.quoted = true;
            walkValue(o[key], `${path}[${JSON.stringify(key)}]`, depth + 1);
            W.quoted = wasQuoted;
        }
    }
}

function countKeys(o) {
    let n = 0;
    for (const key in o) {
        if (Object.prototype.hasOwnProperty.call(o, key)) n++;
    }
    return n;
}

/**
 * Project `payload` into the record fields ptype, plen, pnum, pvals, bytes.
 * @param {object} rec a record (see recorder.js)
 * @param {*} payload msg.payload (read only)
 * @param {{payloadDepth:number,payloadLeaves:number,payloadBudget:number}} opts
 */
function projectPayload(rec, payload, opts) {
    switch (typeof payload) {
        case "number":
            rec.ptype = "number";
            rec.bytes = 8;
            if (Number.isFinite(payload) && opts.payloadLeaves > 0) rec.pnum = payload;
            return;
        case "string": {
            rec.ptype = "string";
            rec.plen = payload.length;
            rec.bytes = payload.length + 2;
            if (opts.payloadLeaves > 0) {
                const n = numericString(payload);
                if (n === n) rec.pnum = n;
            }
            return;
        }
        case "boolean":
            rec.ptype = "boolean";
            rec.bytes = payload ? 4 : 5;
            if (opts.payloadLeaves > 0) rec.pnum = payload ? 1 : 0;
            return;
        case "undefined":
            rec.ptype = "undefined";
            rec.bytes = 0;
            return;
        case "bigint":
            rec.ptype = "number";
            rec.bytes = 8;
            if (opts.payloadLeaves > 0) rec.pnum = Number(payload);
            return;
        case "object":
            break;
        default:
            rec.ptype = typeof payload;
            return;
    }
    if (payload === null) {
        rec.ptype = "null";
        rec.bytes = 4;
        return;
    }
    if (ArrayBuffer.isView(payload)) {
        rec.ptype = "buffer";
        rec.plen = payload.byteLength;
        rec.bytes = payload.byteLength;
        return;
    }
    const isArray = Array.isArray(payload);
    rec.ptype = isArray ? "array" : "object";
    rec.plen = isArray ? payload.length : countKeys(payload);
    W.out = "";
    W.leaves = 0;
    W.bytes = 0;
    W.quoted = false;
    W.budget = opts.payloadBudget;
    W.maxLeaves = opts.payloadLeaves;
    W.maxDepth = opts.payloadDepth;
    if (opts.payloadDepth > 0) {
        if (isArray) {
            walkValue(payload, "payload", 0);
        } else {
            walkObject(payload, "payload", 0);
        }
    }
    rec.bytes = W.bytes;
    rec.pvals = W.out;
    W.out = "";
}

module.exports = { projectPayload, numericString, DENY };
