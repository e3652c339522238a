"use strict";
/**
 * Configuration of the tap: settings.js `causalTap` block > environment variables > defaults.
 *
 * The one exception to that order is the off switch: NODERED_CAUSAL_TAP_ENABLED=0 disables the
 * tap even when settings.js says `enabled: true` (an operator must be able to switch it off
 * without editing settings.js).
 */

const os = require("os");

/** Environment variables read by the tap (all optional). */
const ENV = Object.freeze({
    enabled: "NODERED_CAUSAL_TAP_ENABLED",
    instance: "NODERED_CAUSAL_TAP_INSTANCE",
    transport: "NODERED_CAUSAL_TAP_TRANSPORT",
    url: "NODERED_CAUSAL_TAP_URL",
    topic: "NODERED_CAUSAL_TAP_TOPIC",
    batchSize: "NODERED_CAUSAL_TAP_BATCH_SIZE",
    flushMs: "NODERED_CAUSAL_TAP_FLUSH_MS",
    queueMax: "NODERED_CAUSAL_TAP_QUEUE_MAX",
    lineage: "NODERED_CAUSAL_TAP_LINEAGE",
    sample: "NODERED_CAUSAL_TAP_SAMPLE",
});

const DEFAULTS = Object.freeze({
    enabled: true,
    transport: "mqtt",
    batchSize: 500,
    flushMs: 200,
    queueMax: 50000,
    maxInflight: 16,
    payloadDepth: 4,
    payloadLeaves: 32,
    payloadBudget: 256,
    lineage: true,
    lineageWindow: 131072,
    sample: 1,
    sampleMode: "fixed",
    cpuBudget: 0.03,
    sampleMin: 1 / 1024,
    aggregateTypes: ["join", "batch"],
    maxParents: 256,
    recordComplete: false,
    faults: true,
    results: 50,
    worker: true,
    statsMs: 1000,
    retryMaxMs: 30000,
    username: undefined,
    password: undefined,
});

const DEFAULT_URLS = Object.freeze({ mqtt: "mqtt://127.0.0.1:1883", http: "http://127.0.0.1:8765", memory: "memory:" });
/** Upper bound of causalTap.maxParents (the collector rejects longer `parents` lists). */
const MAX_PARENTS = 4096;
const TRANSPORTS = ["mqtt", "http", "memory"];
const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);

class ConfigError extends Error {}

function envBool(name, raw) {
    const v = String(raw).trim().toLowerCase();
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    throw new ConfigError(`${name}=${raw} is not a boolean (use 1/0, true/false, yes/no, on/off)`);
}

function envInt(name, raw) {
    const v = Number(String(raw).trim());
    if (!Number.isInteger(v)) throw new ConfigError(`${name}=${raw} is not an integer`);
    return v;
}

function sanitizeLevel(s) {
    return String(s).replace(/[^A-Za-z0-9_.-]+/g, "_");
}

function positiveInt(cfg, key, min) {
    const v = cfg[key];
    if (!Number.isInteger(v) || v < min) {
        throw new ConfigError(`causalTap.${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
}

/**
 * Resolve the effective configuration.
 * @param {object|undefined} settings the `causalTap` block of settings.js (may be undefined)
 * @param {object} env usually process.env
 * @param {object} [hints] {uiPort} used to build the default instance name
 * @returns {object} frozen config
 * @throws {ConfigError} naming the offending setting
 */
function resolveConfig(settings, env, hints) {
    const s = settings && typeof settings === "object" ? settings : {};
    const e = env || {};
    const fromEnv = {};
    if (e[ENV.enabled] !== undefined && e[ENV.enabled] !== "") fromEnv.enabled = envBool(ENV.enabled, e[ENV.enabled]);
    for (const key of ["instance", "transport", "url", "topic"]) {
        if (e[ENV[key]]) fromEnv[key] = String(e[ENV[key]]);
    }
    for (const key of ["batchSize", "flushMs", "queueMax"]) {
        if (e[ENV[key]]) fromEnv[key] = envInt(ENV[key], e[ENV[key]]);
    }
    if (e[ENV.lineage]) fromEnv.lineage = envBool(ENV.lineage, e[ENV.lineage]);
    if (e[ENV.sample]) {
        const raw = String(e[ENV.sample]).trim().toLowerCase();
        if (raw === "adaptive") fromEnv.sampleMode = "adaptive";
        else fromEnv.sample = Number(raw);
    }

    const cfg = Object.assign({}, DEFAULTS, fromEnv);
    for (const key of Object.keys(s)) {
        if (s[key] !== undefined) cfg[key] = s[key];
    }
    // Off switch: the environment can always turn the tap off.
    if (fromEnv.enabled === false) cfg.enabled = false;
    cfg.enabled = cfg.enabled !== false;

    if (!TRANSPORTS.includes(cfg.transport)) {
        throw new ConfigError(`causalTap.transport must be one of ${TRANSPORTS.join(", ")}, got ${JSON.stringify(cfg.transport)}`);
    }
    if (!cfg.url) cfg.url = DEFAULT_URLS[cfg.transport];
    if (!cfg.instance) {
        const port = hints && hints.uiPort ? `-${hints.uiPort}` : "";
        cfg.instance = `${os.hostname()}${port}`;
    }
    cfg.instance = sanitizeLevel(cfg.instance);
    if (!cfg.topic) cfg.topic = `nodered-causal/${cfg.instance}/records`;
    if (/[+#]/.test(cfg.topic)) throw new ConfigError(`causalTap.topic must not contain MQTT wildcards, got ${JSON.stringify(cfg.topic)}`);
    positiveInt(cfg, "batchSize", 1);
    positiveInt(cfg, "flushMs", 1);
    positiveInt(cfg, "queueMax", 1);
    positiveInt(cfg, "maxInflight", 1);
    positiveInt(cfg, "payloadDepth", 0);
    positiveInt(cfg, "payloadLeaves", 0);
    positiveInt(cfg, "payloadBudget", 1);
    positiveInt(cfg, "statsMs", 10);
    positiveInt(cfg, "lineageWindow", 1024);
    positiveInt(cfg, "retryMaxMs", 0);
    positiveInt(cfg, "results", 1);
    if (cfg.batchSize > cfg.queueMax) {
        throw new ConfigError(`causalTap.batchSize (${cfg.batchSize}) must be <= causalTap.queueMax (${cfg.queueMax})`);
    }
    if (typeof cfg.url !== "string" || !/^(mqtts?|wss?|https?|memory):/.test(cfg.url)) {
        throw new ConfigError(`causalTap.url must be a mqtt://, mqtts://, ws(s):// or http(s):// URL, got ${JSON.stringify(cfg.url)}`);
    }
    if (typeof cfg.lineage !== "boolean") {
        throw new ConfigError(`causalTap.lineage must be true or false, got ${JSON.stringify(cfg.lineage)}`);
    }
    for (const key of ["sample", "cpuBudget", "sampleMin"]) {
        const v = cfg[key];
        if (typeof v !== "number" || !(v > 0 && v <= 1)) {
            throw new ConfigError(`causalTap.${key} must be a number in (0, 1], got ${JSON.stringify(v)}`);
        }
    }
    if (!["fixed", "adaptive"].includes(cfg.sampleMode)) {
        throw new ConfigError(`causalTap.sampleMode must be "fixed" or "adaptive", got ${JSON.stringify(cfg.sampleMode)}`);
    }
    positiveInt(cfg, "maxParents", 1);
    if (cfg.maxParents > MAX_PARENTS) {
        throw new ConfigError(`causalTap.maxParents must be <= ${MAX_PARENTS}, got ${cfg.maxParents}`);
    }
    const types = cfg.aggregateTypes;
    if (!Array.isArray(types) || types.length > 256 || !types.every((t) => typeof t === "string" && t !== "")) {
        throw new ConfigError(`causalTap.aggregateTypes must be a list of node type names, got ${JSON.stringify(types)}`);
    }
    cfg.aggregateTypes = Object.freeze(types.slice());
    cfg.recordComplete = cfg.recordComplete === true;
    cfg.faults = cfg.faults !== false;
    cfg.worker = cfg.worker !== false;
    return Object.freeze(cfg);
}

/** The config as shown by the admin endpoint: credentials removed, URL user info masked. */
function publicConfig(cfg) {
    const out = {};
    for (const key of Object.keys(cfg)) {
        if (key === "password" || key === "username") continue;
        out[key] = cfg[key];
    }
    out.url = maskUrl(cfg.url);
    return out;
}

function maskUrl(url) {
    try {
        const u = new URL(url);
        if (u.username || u.password) {
            u.username = u.username ? "***" : "";
            u.password = u.password ? "***" : "";
        }
        return u.toString();
    } catch (_err) {
        return "<invalid url>";
    }
}

module.exports = { ENV, DEFAULTS, MAX_PARENTS, ConfigError, resolveConfig, publicConfig, maskUrl };
