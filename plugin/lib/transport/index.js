"use strict";
/** Transport factory: cfg.transport -> transport instance. */
function createTransport(cfg, log, boot) {
    switch (cfg.transport) {
        case "mqtt":
            return new (require("./mqtt").MqttTransport)(cfg, log, boot);
        case "http":
            return new (require("./http").HttpTransport)(cfg, log);
        case "memory":
            return new (require("./memory").MemoryTransport)(cfg, log);
        default:
            throw new Error(`unknown transport ${cfg.transport}`);
    }
}
module.exports = { createTransport };
