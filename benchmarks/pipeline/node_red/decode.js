// The Node-RED peer's function node: the same decode firegrid's codecs do, driven by the same
// device profiles (exported to JSON by the benchmark), and the same batching (5000 points or
// 1 s). Input: an MQTT message (payload as a Buffer). Output: {payload: [point, ...]} for
// node-red-contrib-influxdb's batch node. The profiles and the device registry come from
// settings.js (functionGlobalContext), as a Node-RED deployment would load them.
//
// "initialize" (On Start) builds the topic routes and the flush timer; "func" runs per message.

// ---- initialize -------------------------------------------------------------------------
const profiles = global.get("profiles");
const registry = global.get("registry");
const BATCH = 5000;
const EARLIEST_TS = 1577836800;
const MAX_FUTURE_S = 300;

// One route per (topic template, profile): "devices/{device_id}/up" → key from level 1.
const routes = [];
for (const [name, p] of Object.entries(profiles)) {
    for (const template of p.topics) {
        const levels = template.split("/");
        const at = levels.findIndex((l) => l.startsWith("{"));
        const kind = levels[at].slice(1, -1);
        routes.push({ name, levels, at, kind });
    }
}

function route(topic) {
    const levels = topic.split("/");
    for (const r of routes) {
        if (r.levels.length !== levels.length) continue;
        let ok = true;
        for (let i = 0; i < levels.length; i++) {
            if (i !== r.at && r.levels[i] !== levels[i]) { ok = false; break; }
        }
        if (ok) return [r, levels[r.at]];
    }
    return null;
}

function parseTs(value, receivedAt) {
    let ts = null;
    if (typeof value === "number") ts = value > 1e11 ? value / 1000 : value;
    else if (typeof value === "string") { const ms = Date.parse(value); ts = isNaN(ms) ? null : ms / 1000; }
    if (ts === null || ts < EARLIEST_TS || ts > receivedAt + MAX_FUTURE_S) return receivedAt;
    return ts;
}

function checkValue(spec, value) {
    switch (spec.type) {
        case "bool":
            if (value === true || value === false) return value;
            if (value === 0 || value === 1) return value === 1;
            return undefined;
        case "float":
        case "int":
            if (typeof value !== "number" || !isFinite(value)) return undefined;
            if (spec.type === "int" && !Number.isInteger(value)) return undefined;
            if ((spec.min !== null && value < spec.min) || (spec.max !== null && value > spec.max)) return undefined;
            return value;
        case "str":
            if (typeof value !== "string") return undefined;
            if (spec.enum && !spec.enum.includes(value)) return undefined;
            return value;
    }
    return undefined;
}

function jsonFields(profile, doc, receivedAt, tsKey) {
    const codec = profile.codec;
    const fields = {};
    for (const [key, raw] of Object.entries(doc)) {
        const name = codec.map[key] || key;
        const spec = profile.fields[name];
        if (!spec) continue;
        if (spec.channels) {
            if (!Array.isArray(raw) || raw.length > spec.channels) continue;
            raw.forEach((v, i) => {
                if (v === null) return;
                const ok = checkValue(spec, v);
                if (ok !== undefined) fields[name + "_" + (i + 1)] = ok;
            });
            continue;
        }
        const ok = checkValue(spec, raw);
        if (ok !== undefined) fields[name] = ok;
    }
    const seq = Number.isInteger(doc[codec.seq_key || "seq"]) ? doc[codec.seq_key || "seq"] : null;
    return { fields, ts: parseTs(doc[tsKey], receivedAt), seq };
}

function crc16modbus(buf, end) {
    let crc = 0xffff;
    for (let i = 0; i < end; i++) {
        crc ^= buf[i];
        for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    }
    return crc;
}

const READ = { u8: "readUInt8", i8: "readInt8", u16: "readUInt16", i16: "readInt16", u32: "readUInt32", i32: "readInt32", f32: "readFloat" };

function binaryFields(profile, buf, receivedAt) {
    const c = profile.codec;
    if (buf.length !== c.length) return null;
    if (c.magic && buf.slice(0, c.magic.length / 2).toString("hex").toUpperCase() !== c.magic.toUpperCase()) return null;
    if (c.checksum && crc16modbus(buf, c.checksum.offset) !== buf.readUInt16LE(c.checksum.offset)) return null;
    const suffix = c.byte_order === "big" ? "BE" : "LE";
    const fields = {};
    let ts = null, seq = null;
    for (const item of c.layout) {
        const method = READ[item.type] + (item.type.endsWith("8") ? "" : suffix);
        const raw = buf[method](item.offset);
        if (item.bits) {
            for (const [name, bit] of Object.entries(item.bits)) fields[name] = ((raw >> bit) & 1) === 1;
            continue;
        }
        const value = raw * item.scale + item.add;
        if (item.field === "ts") ts = raw;
        else if (item.field === "seq") seq = raw;
        else {
            const spec = profile.fields[item.field];
            const ok = checkValue(spec, spec.type === "float" ? Math.round(value * 1e9) / 1e9 : value);
            if (ok !== undefined) fields[item.field] = ok;
        }
    }
    return { fields, ts: ts ? parseTs(ts, receivedAt) : receivedAt, seq };
}

function point(deviceId, device, profile, decoded) {
    const tags = { device: deviceId, profile: device.profile, grid: device.grid, community: device.community, street: device.street };
    const fields = {};
    for (const [name, value] of Object.entries(decoded.fields)) {
        const spec = profile.fields[name] || profile.fields[name.replace(/_\d+$/, "")];
        if (typeof value === "string") {
            if (spec.tag) tags[name] = value;
            else if (spec.enum) fields[name] = value;
        } else fields[name] = value;
    }
    return { measurement: profile.measurement, tags, fields, timestamp: String(Math.round(decoded.ts * 1e6)) };
}

let buffer = [];
function flush() {
    if (buffer.length === 0) return;
    node.send({ payload: buffer });
    buffer = [];
}
const timer = setInterval(flush, 1000);
context.set("bench", { route, jsonFields, binaryFields, point, registry, profiles, push: (p) => { buffer.push(p); if (buffer.length >= BATCH) flush(); }, timer });

// ---- func --------------------------------------------------------------------------------
const bench = context.get("bench");
const receivedAt = Date.now() / 1000;
const found = bench.route(msg.topic);
if (found === null) return null;
const [r, key] = found;
const payload = msg.payload;
let deviceId = null;
let doc = null;
let profile;
if (r.kind === "device_id" || r.kind === "external_id") {
    deviceId = r.kind === "device_id" ? key : bench.registry.by_external_id[key];
    const known = deviceId ? bench.registry.by_id[deviceId] : undefined;
    if (!known) return null;
    profile = bench.profiles[known.profile];
}
else profile = bench.profiles[r.name];  // the device is named inside the payload
if (profile.codec.type !== "binary-struct") {
    try { doc = JSON.parse(payload.toString()); } catch (e) { return null; }
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return null;
    if (deviceId === null) {
        const k = doc[profile.codec.device_key];
        deviceId = bench.registry.by_id[k] ? k : bench.registry.by_external_id[k];
    }
}
const device = deviceId ? bench.registry.by_id[deviceId] : undefined;
if (!device) return null;
profile = bench.profiles[device.profile];
let decoded;
if (profile.codec.type === "binary-struct") decoded = bench.binaryFields(profile, payload, receivedAt);
else decoded = bench.jsonFields(profile, doc, receivedAt, profile.codec.type === "zigbee2mqtt" ? "last_seen" : (profile.codec.ts_key || "ts"));
if (!decoded || Object.keys(decoded.fields).length === 0) return null;
bench.push(bench.point(deviceId, device, profile, decoded));
return null;

// ---- finalize ----------------------------------------------------------------------------
clearInterval(context.get("bench").timer);
