"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { resolveConfig, publicConfig, ConfigError, DEFAULTS } = require("../lib/config");

test("defaults: mqtt on localhost, topic from the instance", () => {
    const cfg = resolveConfig(undefined, {}, { uiPort: 1880 });
    assert.equal(cfg.enabled, true);
    assert.equal(cfg.transport, "mqtt");
    assert.equal(cfg.url, "mqtt://127.0.0.1:1883");
    assert.match(cfg.instance, /-1880$/);
    assert.equal(cfg.topic, `nodered-causal/${cfg.instance}/records`);
    assert.equal(cfg.batchSize, DEFAULTS.batchSize);
    assert.ok(Object.isFrozen(cfg));
});

test("settings win over env, env over defaults", () => {
    const env = {
        NODERED_CAUSAL_TAP_URL: "http://10.0.0.1:9000",
        NODERED_CAUSAL_TAP_TRANSPORT: "http",
        NODERED_CAUSAL_TAP_INSTANCE: "from-env",
        NODERED_CAUSAL_TAP_BATCH_SIZE: "7",
    };
    const fromEnv = resolveConfig({}, env);
    assert.equal(fromEnv.transport, "http");
    assert.equal(fromEnv.url, "http://10.0.0.1:9000");
    assert.equal(fromEnv.instance, "from-env");
    assert.equal(fromEnv.batchSize, 7);
    const explicit = resolveConfig({ instance: "explicit", batchSize: 9 }, env);
    assert.equal(explicit.instance, "explicit");
    assert.equal(explicit.batchSize, 9);
    assert.equal(explicit.transport, "http");
});

test("the env off switch beats settings", () => {
    assert.equal(resolveConfig({ enabled: true }, { NODERED_CAUSAL_TAP_ENABLED: "0" }).enabled, false);
    assert.equal(resolveConfig({ enabled: false }, { NODERED_CAUSAL_TAP_ENABLED: "1" }).enabled, false);
    assert.equal(resolveConfig({}, { NODERED_CAUSAL_TAP_ENABLED: "yes" }).enabled, true);
});

test("bad values name the setting", () => {
    assert.throws(() => resolveConfig({ transport: "kafka" }, {}), /causalTap.transport must be one of/);
    assert.throws(() => resolveConfig({ batchSize: 0 }, {}), /causalTap.batchSize must be an integer >= 1/);
    assert.throws(() => resolveConfig({ batchSize: 10, queueMax: 5 }, {}), /batchSize \(10\) must be <= causalTap.queueMax \(5\)/);
    assert.throws(() => resolveConfig({ topic: "a/+/b" }, {}), /wildcards/);
    assert.throws(() => resolveConfig({ lineage: "sync" }, {}), /causalTap.lineage must be true or false/);
    assert.throws(() => resolveConfig({}, { NODERED_CAUSAL_TAP_ENABLED: "maybe" }), ConfigError);
    assert.throws(() => resolveConfig({}, { NODERED_CAUSAL_TAP_QUEUE_MAX: "1e9x" }), /NODERED_CAUSAL_TAP_QUEUE_MAX=1e9x is not an integer/);
});

test("instance is sanitised into one topic level", () => {
    assert.equal(resolveConfig({ instance: "a/b c#" }, {}).instance, "a_b_c_");
});

test("public config hides credentials", () => {
    const cfg = resolveConfig({ url: "mqtt://user:pw@broker:1883", username: "u", password: "p" }, {});
    const pub = publicConfig(cfg);
    assert.equal(pub.password, undefined);
    assert.equal(pub.username, undefined);
    assert.equal(pub.url, "mqtt://***:***@broker:1883");
    assert.ok(!JSON.stringify(pub).includes("pw"));
});

test("multi-parent lineage settings: defaults and validation", () => {
    const cfg = resolveConfig({}, {});
    assert.deepEqual([...cfg.aggregateTypes], ["join", "batch"]);
    assert.equal(cfg.maxParents, 256);
    assert.deepEqual([...resolveConfig({ aggregateTypes: ["smooth"], maxParents: 4096 }, {}).aggregateTypes], ["smooth"]);
    assert.throws(() => resolveConfig({ maxParents: 0 }, {}), /causalTap.maxParents must be an integer >= 1/);
    assert.throws(() => resolveConfig({ maxParents: 4097 }, {}), /causalTap.maxParents must be <= 4096/);
    assert.throws(() => resolveConfig({ aggregateTypes: "join" }, {}), /causalTap.aggregateTypes must be a list of node type names/);
    assert.throws(() => resolveConfig({ aggregateTypes: ["join", ""] }, {}), /aggregateTypes/);
});
