"use strict";
/**
 * MQTT transport (mqtt.js v5): QoS 1 publishes of whole batches to one topic, automatic
 * reconnect. At most maxInflight batches are handed to mqtt.js at a time; while the broker is
 * unreachable they wait in mqtt.js's outgoing store and are resent on reconnect, and new records
 * pile up in the tap's bounded queue (which drops its oldest when full). QoS 1 is at-least-once:
 * after a reconnect a batch may arrive twice; (tap, boot, seq) identifies duplicates.
 */
const mqtt = require("mqtt");
const { BaseTransport } = require("./base");
const { maskUrl } = require("../config");

class MqttTransport extends BaseTransport {
    constructor(cfg, log, boot) {
        super(cfg, log);
        this.kind = "mqtt";
        this.boot = boot;
        this.client = null;
        this.connects = 0;
    }

    describe() {
        return `${maskUrl(this.cfg.url)} topic ${this.cfg.topic}`;
    }

    isConnected() {
        return !!(this.client && this.client.connected);
    }

    start() {
        try {
            const opts = {
                clientId: `nrc-tap-${this.cfg.instance}-${this.boot}`.slice(0, 64),
                clean: true,
                reconnectPeriod: 1000,
                connectTimeout: 5000,
                keepalive: 30,
                queueQoSZero: false,
                resubscribe: false,
            };
            if (this.cfg.username !== undefined) opts.username = this.cfg.username;
            if (this.cfg.password !== undefined) opts.password = this.cfg.password;
            this.client = mqtt.connect(this.cfg.url, opts);
            this.client.on("connect", () => {
                this.connects++;
                this.lastError = null;
                this.onReady();
            });
            this.client.on("error", (err) => this.noteError(err));
            this.client.on("offline", () => this.noteError(new Error("broker offline, reconnecting")));
        } catch (err) {
            this.noteError(err);
        }
    }

    ready() {
        return this.client !== null && super.ready();
    }

    send(body, n) {
        this.begin(n);
        try {
            this.client.publish(this.cfg.topic, body, { qos: 1 }, (err) => this.finish(n, !err, err));
        } catch (err) {
            this.finish(n, false, err);
        }
    }

    async close(timeoutMs) {
        const lost = await this.drain(timeoutMs);
        if (this.client) {
            const client = this.client;
            await new Promise((resolve) => {
                try {
                    client.end(true, {}, () => resolve());
                } catch (_err) {
                    resolve();
                }
                setTimeout(resolve, 500).unref();
            });
        }
        return lost;
    }

    status() {
        return Object.assign(super.status(), { connects: this.connects });
    }
}

module.exports = { MqttTransport };
