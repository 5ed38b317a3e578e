// The firegrid web console: sign-in, the live stream, and the installer, worker and officer
// views. Every action goes through the REST API at /api/v1 with the signed-in bearer token.
"use strict";

const API = "/api/v1";
const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, warning: 3 };
const OUTCOMES = ["false_alarm", "fire", "fault", "hazard_fixed", "other"];
const $ = (sel, root) => (root || document).querySelector(sel);

const state = {
  token: sessionStorage.getItem("firegrid.token"),
  me: null,
  config: { tile_url: null, evidence_max_bytes: 8 * 1024 * 1024 },
  view: null,
  incidents: new Map(), // open incidents the caller sees, by id
  closed: [],
  grids: [],
  devices: [],
  position: null, // the worker's own, when the browser allows it
  commissioning: null, // the device id waiting for its test message
  editing: null, // the device being edited in the installer's form, as loaded
  profiles: new Map(),
  streamAbort: null,
  maps: {},
};

// -- the API ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(describe(detail) || `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const where = (d.loc || []).filter((p) => p !== "body" && p !== "query" && p !== d.line).join(".");
        const line = d.line ? t("inst.bulk.line", { line: d.line }) + ": " : "";
        return line + (where ? where + ": " : "") + d.msg;
      })
      .join("; ");
  }
  return detail ? JSON.stringify(detail) : "";
}

async function api(path, options) {
  const opts = options || {};
  const headers = { Authorization: `Bearer ${state.token}`, ...(opts.headers || {}) };
  let body = opts.body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  const response = await fetch(API + path, { method: opts.method || "GET", headers, body, cache: "no-store" });
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (response.status === 401 && state.me) signOut();
  if (!response.ok) throw new ApiError(response.status, data && data.detail);
  return data;
}

function toast(message, error) {
  const el = $("#toast");
  el.textContent = message;
  el.className = error ? "error" : "";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.hidden = true), 5000);
}

function fail(err) {
  toast(t("error", { msg: err.message || String(err) }), true);
}

// -- the live stream (fetch, not EventSource: EventSource cannot send the bearer header) ------

async function openStream() {
  const abort = new AbortController();
  state.streamAbort = abort;
  while (!abort.signal.aborted) {
    try {
      const response = await fetch(API + "/events", {
        headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" },
        signal: abort.signal,
        cache: "no-store",
      });
      if (response.status === 401) return signOut();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trim());
          }
          if (data.length) onStreamEvent(type, JSON.parse(data.join("\n")));
        }
      }
    } catch (err) {
      if (abort.signal.aborted) return;
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function setLive(live) {
  const el = $("#stream-status");
  el.dataset.live = String(live);
  el.textContent = state.me ? (live ? "● " + t("stream.live") : "○ " + t("stream.down")) : "";
}

function onStreamEvent(type, data) {
  if (type === "ready" || type === "resync") {
    setLive(true);
    refresh().catch(fail); // read the lists after the stream is open: nothing falls between
    return;
  }
  if (type !== "incident") return;
  const incident = data.incident;
  if (incident.test) return onTestIncident(incident);
  const known = state.incidents.has(incident.id);
  if (incident.status === "closed") {
    state.incidents.delete(incident.id);
    state.closed = [incident, ...state.closed.filter((i) => i.id !== incident.id)].slice(0, 20);
  } else {
    state.incidents.set(incident.id, incident);
  }
  render(); // first: the alarm on screen never waits for the sound or the notification
  if (state.view === "worker" && (!known || data.event === "escalated") && incident.status !== "closed") {
    if (incident.kind !== "patrol_overdue") alertWorker(incident);
  }
}

// -- sign-in and views -----------------------------------------------------------------------

const VIEWS = {
  admin: ["officer", "worker", "installer"],
  officer: ["officer"],
  viewer: ["officer"],
  installer: ["installer"],
  worker: ["worker"],
  platform: [],
};

async function signIn(token) {
  state.token = token;
  try {
    state.me = await api("/me");
  } catch (err) {
    state.token = null;
    sessionStorage.removeItem("firegrid.token");
    $("#signin-error").textContent = err.status === 401 ? t("signin.bad") : err.message;
    return;
  }
  sessionStorage.setItem("firegrid.token", token);
  $("#signin").hidden = true;
  $("#signout").hidden = false;
  $("#who").textContent = `${state.me.name} · ${t("role." + state.me.role)}`;
  const views = VIEWS[state.me.role] || [];
  const tabs = $("#tabs");
  tabs.replaceChildren();
  if (views.length > 1) {
    for (const view of views) {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.view = view;
      b.dataset.i18n = "tab." + view;
      b.textContent = t("tab." + view);
      b.addEventListener("click", () => show(view));
      tabs.appendChild(b);
    }
  }
  if (views.length) show(views[0]);
  openStream();
}

function signOut() {
  sessionStorage.removeItem("firegrid.token");
  if (state.streamAbort) state.streamAbort.abort();
  location.reload();
}

function show(view) {
  state.view = view;
  for (const el of document.querySelectorAll(".view")) el.hidden = el.id !== "view-" + view;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.view === view);
  document.body.dataset.view = view;
  if (view === "installer") initInstaller().catch(fail);
  if (view === "worker") initWorker();
  if (state.me) refresh().catch(fail);
}

async function refresh() {
  if (state.view === "worker") return loadWorker();
  if (state.view === "officer") return loadOfficer();
  return undefined;
}

function render() {
  if (state.view === "worker") renderWorker();
  if (state.view === "officer") renderOfficer();
}

// -- formatting --------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (v !== false && v != null) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) node.append(c);
  return node;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(LANG === "zh" ? "zh-CN" : "en-GB", { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function clock(seconds) {
  const s = Math.abs(Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(r).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function countdown(incident) {
  const span = el("span", { class: "due" });
  if (incident.due) span.dataset.due = incident.due.at;
  tickDue(span);
  return span;
}

function tickDue(span) {
  if (!span.dataset.due) return;
  const left = (Date.parse(span.dataset.due) - Date.now()) / 1000;
  span.textContent = left >= 0 ? t("left", { t: clock(left) }) : t("overdue", { t: clock(left) });
  span.classList.toggle("late", left < 0);
}

function place(incident) {
  const loc = incident.location || {};
  return [loc.address, loc.building, loc.floor && loc.floor + (LANG === "zh" ? "层" : "F")].filter(Boolean).join(" ");
}

function distance(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(h));
}

function sevBadge(incident) {
  return el("span", { class: `sev sev-${incident.severity}` }, t("sev." + incident.severity));
}

function statusBadge(incident) {
  return el("span", { class: `status status-${incident.status}`, "data-status": incident.status }, t("status." + incident.status));
}

// -- installer --------------------------------------------------------------------------------

let installerReady = false;

async function initInstaller() {
  if (installerReady) return;
  installerReady = true;
  const form = $("#register-form");
  if (!form.installer.value) form.installer.value = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(state.me.name) ? state.me.name : state.me.token_id || "";
  const [profiles, grids] = await Promise.all([api("/profiles"), api("/grids")]);
  state.grids = grids.features;
  state.profiles = new Map(profiles.map((p) => [p.name, p]));
  const select = form.profile;
  select.replaceChildren(...profiles.map((p) => el("option", { value: p.name, "data-description": p.description }, p.name)));
  select.addEventListener("change", () => describeProfile());
  describeProfile();
  state.maps.installer = new GridMap($("#installer-map"), {
    tileUrl: state.config.tile_url,
    onPick: (lat, lon) => {
      form.lat.value = lat;
      form.lon.value = lon;
      placed();
    },
  });
  state.maps.installer.setData({ grids: state.grids, devices: [] });
  const placed = debounce(async () => {
    const lat = parseFloat(form.lat.value), lon = parseFloat(form.lon.value);
    state.maps.installer.setPick(lat, lon);
    const found = $("#grid-found");
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) {
      found.textContent = t("inst.grid.pending");
      found.dataset.grid = "";
      return;
    }
    try {
      const at = await api(`/geo/grid?lat=${lat}&lon=${lon}`);
      found.dataset.grid = at.grid ? at.grid.code : "-";
      found.textContent = at.grid ? at.ladder.map((u) => `${u.code} ${u.name}`).join(" · ") : t("inst.grid.none");
    } catch (err) {
      found.dataset.grid = "";
      found.textContent = err.message;
    }
  }, 250);
  form.lat.addEventListener("input", placed);
  form.lon.addEventListener("input", placed);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    (state.editing ? saveEdit(form) : registerDevice(form)).catch(fail);
  });
  $("#edit-load").addEventListener("click", () => loadForEdit($("#edit-id").value.trim()).catch(fail));
  $("#edit-cancel").addEventListener("click", () => endEdit());
  $("#commission-start").addEventListener("click", () => startCommissioning($("#commission-id").value.trim()));
  $("#csv-upload").addEventListener("click", () => uploadCsv().catch(fail));
  setupScanner(form.id);
}

function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

async function registerDevice(form) {
  const f = form.elements;
  const lat = parseFloat(f.lat.value), lon = parseFloat(f.lon.value);
  const body = {
    id: f.id.value.trim(),
    profile: f.profile.value,
    name: f.name.value.trim(),
    location: {
      address: f.address.value.trim(),
      building: f.building.value.trim(),
      floor: f.floor.value.trim(),
      lat: Number.isFinite(lat) ? lat : null,
      lon: Number.isFinite(lon) ? lon : null,
    },
  };
  if (f.installer.value.trim()) body.installer = f.installer.value.trim();
  body.thresholds = thresholdsOf(form);
  const result = $("#register-result");
  try {
    const device = await api("/devices", { method: "POST", json: body });
    result.className = "ok";
    result.textContent = t("inst.saved", { id: device.id, grid: device.grid });
    $("#commission-id").value = device.id;
    startCommissioning(device.id);
  } catch (err) {
    result.className = "error";
    result.textContent = err.message;
  }
}

function describeProfile(values) {
  // The model's description, and one box per threshold it has: empty keeps the model's value.
  const profile = state.profiles.get($("#register-form").profile.value);
  $("#profile-desc").textContent = profile ? profile.description : "";
  const entries = Object.entries(profile ? profile.thresholds : {});
  $("#thresholds").hidden = !entries.length;
  $("#threshold-fields").replaceChildren(
    ...entries.map(([name, value]) =>
      el("label", {}, el("span", {}, name), el("input", { type: "number", step: "any", "data-threshold": name, placeholder: String(value), value: values && values[name] != null ? String(values[name]) : null })),
    ),
  );
}

function thresholdsOf(form) {
  const out = {};
  for (const input of form.querySelectorAll("input[data-threshold]")) {
    const value = parseFloat(input.value);
    if (Number.isFinite(value)) out[input.dataset.threshold] = value;
  }
  return out;
}

async function loadForEdit(deviceId) {
  // A device already on the wall: moved, renamed, re-thresholded. Its model stays — another
  // model is another device (the API refuses the change).
  if (!deviceId) return;
  const device = await api(`/devices/${encodeURIComponent(deviceId)}`);
  const form = $("#register-form");
  const f = form.elements;
  const loc = device.location || {};
  state.editing = device;
  form.dataset.mode = "edit";
  f.id.value = device.id;
  f.id.readOnly = true;
  f.profile.value = device.profile;
  f.profile.disabled = true;
  describeProfile(device.thresholds);
  f.name.value = device.name;
  f.address.value = loc.address || "";
  f.building.value = loc.building || "";
  f.floor.value = loc.floor || "";
  f.lat.value = loc.lat ?? "";
  f.lon.value = loc.lon ?? "";
  f.installer.value = device.installer || "";
  f.lat.dispatchEvent(new Event("input")); // the map and the grid under it
  $("#scan-btn").disabled = true;
  setFormLabels("inst.edit.title", "inst.edit.save");
  const editing = $("#editing");
  editing.hidden = false;
  editing.textContent = t("inst.edit.of", { id: device.id, profile: device.profile });
  $("#edit-cancel").hidden = false;
  $("#register-result").textContent = "";
  form.scrollIntoView({ block: "start" });
}

async function saveEdit(form) {
  const f = form.elements;
  const was = state.editing;
  const lat = parseFloat(f.lat.value), lon = parseFloat(f.lon.value);
  const placed = Number.isFinite(lat) && Number.isFinite(lon);
  const body = {
    profile: was.profile,
    name: f.name.value.trim(),
    external_id: was.external_id,
    location: {
      address: f.address.value.trim(),
      building: f.building.value.trim(),
      floor: f.floor.value.trim(),
      lat: placed ? lat : null,
      lon: placed ? lon : null,
    },
    grid: placed ? null : was.grid, // with a position, the grid under it; without, the one it had
    thresholds: thresholdsOf(form),
    installer: f.installer.value.trim() || null,
    commissioning_until: was.commissioning_until,
  };
  const result = $("#register-result");
  try {
    const device = await api(`/devices/${encodeURIComponent(was.id)}`, { method: "PUT", json: body });
    endEdit();
    result.className = "ok";
    result.textContent = t("inst.updated", { id: device.id, grid: device.grid });
  } catch (err) {
    result.className = "error";
    result.textContent = err.message;
  }
}

function endEdit() {
  const form = $("#register-form");
  const f = form.elements;
  const installer = f.installer.value;
  state.editing = null;
  form.reset();
  form.dataset.mode = "register";
  f.id.readOnly = false;
  f.profile.disabled = false;
  f.installer.value = installer;
  describeProfile();
  f.lat.dispatchEvent(new Event("input"));
  $("#scan-btn").disabled = false;
  setFormLabels("inst.register", "inst.save");
  $("#editing").hidden = true;
  $("#edit-cancel").hidden = true;
  $("#register-result").textContent = "";
}

function setFormLabels(title, save) {
  const form = $("#register-form");
  const heading = form.querySelector("h2");
  const button = form.querySelector("button[type=submit]");
  heading.dataset.i18n = title;
  button.dataset.i18n = save;
  heading.textContent = t(title);
  button.textContent = t(save);
}

async function startCommissioning(deviceId) {
  if (!deviceId) return;
  state.commissioning = deviceId;
  const status = $("#commission-status");
  status.dataset.state = "waiting";
  status.dataset.device = deviceId;
  status.className = "waiting";
  status.textContent = t("inst.commission.wait", { id: deviceId });
  await tryCommission(deviceId, false); // the button may have been pressed already
}

function onTestIncident(incident) {
  if (incident.device_id !== state.commissioning) return;
  const status = $("#commission-status");
  if (status.dataset.state !== "waiting") return;
  status.dataset.state = "heard";
  status.textContent = t("inst.commission.heard", { id: incident.device_id });
  tryCommission(incident.device_id, true).catch(fail);
}

async function tryCommission(deviceId, heard) {
  const status = $("#commission-status");
  try {
    const done = await api(`/devices/${encodeURIComponent(deviceId)}/commissioning`, { method: "POST" });
    if (state.commissioning !== deviceId) return;
    status.dataset.state = "commissioned";
    status.className = "ok";
    status.textContent = "✓ " + t("inst.commission.done", { id: deviceId, at: when(done.commissioned_at) });
    state.commissioning = null;
  } catch (err) {
    if (err.status === 409 && !heard) return; // not pressed yet: the stream will tell us
    status.dataset.state = "failed";
    status.className = "error";
    status.textContent = err.message;
  }
}

async function uploadCsv() {
  const file = $("#csv-file").files[0];
  const out = $("#csv-result");
  if (!file) return;
  try {
    const result = await api("/devices/import", { method: "POST", body: file, headers: { "Content-Type": "text/csv" } });
    out.className = "ok";
    out.replaceChildren(t("inst.bulk.ok", { n: result.imported }));
  } catch (err) {
    out.className = "error";
    const items = Array.isArray(err.detail) ? err.detail : [{ msg: err.message }];
    out.replaceChildren(
      el("p", {}, t("inst.bulk.bad")),
      el("ul", { class: "csv-errors" }, items.map((d) => el("li", { "data-line": d.line ?? "" }, describe([d])))),
    );
  }
}

function setupScanner(input) {
  // The QR code on the device label, read from the camera: BarcodeDetector where the browser
  // has it (Chrome on Android), else jsQR (shipped in static/vendor, loaded on first use).
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  const button = $("#scan-btn");
  const video = $("#scan-video");
  button.hidden = false;
  let stream = null;
  const stop = () => {
    if (stream) stream.getTracks().forEach((tr) => tr.stop());
    stream = null;
    video.hidden = true;
    button.textContent = t("inst.scan");
  };
  button.addEventListener("click", async () => {
    if (stream) return stop();
    try {
      const read = await qrReader();
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      video.hidden = false;
      button.textContent = t("inst.scan.stop");
      await video.play();
      const look = async () => {
        if (!stream) return;
        const text = await read(video).catch(() => null);
        if (text && text.trim()) {
          input.value = text.trim();
          input.dispatchEvent(new Event("input"));
          return stop();
        }
        setTimeout(look, 150); // a few frames a second is plenty, and spares a phone's battery
      };
      look();
    } catch (err) {
      stop();
      fail(err);
    }
  });
}

async function qrReader() {
  const video = $("#scan-video");
  if ("BarcodeDetector" in window) {
    const formats = await BarcodeDetector.getSupportedFormats().catch(() => []);
    if (formats.includes("qr_code")) {
      const detector = new BarcodeDetector({ formats: ["qr_code", "code_128", "ean_13"].filter((f) => formats.includes(f)) });
      video.dataset.decoder = "barcode-detector";
      return async (source) => {
        const codes = await detector.detect(source);
        return codes.length ? codes[0].rawValue : null;
      };
    }
  }
  await loadScript("static/vendor/jsQR.js");
  video.dataset.decoder = "jsqr";
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return async (source) => {
    if (!source.videoWidth) return null;
    const scale = Math.min(1, 800 / source.videoWidth); // a label fills the frame: 800 px is enough
    canvas.width = Math.round(source.videoWidth * scale);
    canvas.height = Math.round(source.videoHeight * scale);
    ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
    const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const code = jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
    return code ? code.data : null;
  };
}

const scripts = new Map(); // src → its loading, once

function loadScript(src) {
  if (!scripts.has(src)) {
    const loading = new Promise((resolve, reject) => {
      const script = el("script", { src });
      script.onload = resolve;
      script.onerror = () => {
        scripts.delete(src);
        reject(new Error(`${src}: not loaded`));
      };
      document.head.append(script);
    });
    scripts.set(src, loading);
  }
  return scripts.get(src);
}

// -- grid worker ------------------------------------------------------------------------------

let workerReady = false;
let audio = null;

function initWorker() {
  if (workerReady) return;
  workerReady = true;
  $("#alerts-on").addEventListener("click", async () => {
    // Browsers allow sound and notifications only after a tap: this is that tap.
    try {
      audio = audio || new AudioContext();
      await audio.resume();
    } catch (err) {
      audio = null;
    }
    if ("Notification" in window && Notification.permission === "default") await Notification.requestPermission();
    $("#alerts-on").textContent = t("wk.alerts.on");
    $("#alerts-on").classList.add("done");
    beep();
  });
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(
      (p) => {
        state.position = { lat: p.coords.latitude, lon: p.coords.longitude };
        renderWorker();
      },
      () => {},
      { enableHighAccuracy: true, maximumAge: 30000 },
    );
  }
}

function beep() {
  // A two-tone beep from an oscillator: no audio file to ship.
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 660, 880].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = freq;
      gain.gain.value = 0.08;
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.25);
      osc.stop(now + i * 0.25 + 0.2);
    }
  } catch (err) {
    /* no audio on this device */
  }
}

function alertWorker(incident) {
  document.body.dataset.alerted = incident.id; // first: what the sound and buzz are about
  beep();
  if (navigator.vibrate) navigator.vibrate([300, 100, 300, 100, 300]);
  if ("Notification" in window && Notification.permission === "granted") {
    try {
      new Notification(`${t("wk.new")}: ${incident.title}`, { body: place(incident), tag: incident.id });
    } catch (err) {
      /* some mobile browsers only notify from a service worker */
    }
  }
}

async function loadWorker() {
  const open = await api("/incidents?open=true&test=false&limit=200");
  state.incidents = new Map(open.map((i) => [i.id, i]));
  renderWorker();
}

function renderWorker() {
  if (state.view !== "worker") return;
  const all = [...state.incidents.values()];
  const alarms = all.filter((i) => i.kind !== "patrol_overdue").sort(bySeverity);
  const patrols = all.filter((i) => i.kind === "patrol_overdue");
  const box = $("#my-alarms");
  box.replaceChildren(...(alarms.length ? alarms.map(alarmCard) : [el("p", { class: "empty" }, t("wk.none"))]));
  $("#my-patrols").replaceChildren(
    ...(patrols.length
      ? patrols.map((i) => el("li", { "data-incident": i.id }, sevBadge(i), " ", i.title, " · ", i.device_id, " · ", place(i), " ", countdown(i)))
      : [el("li", { class: "empty" }, t("wk.patrols.none"))]),
  );
}

function bySeverity(a, b) {
  return SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || (a.opened_at < b.opened_at ? 1 : -1);
}

const STEP = { reported: 0, dispatched: 0, escalated: 0, accepted: 1, on_site: 2, handled: 3, verified: 4, closed: 5 };

function alarmCard(incident) {
  const step = STEP[incident.status];
  const loc = incident.location || {};
  const here = state.position && loc.lat != null ? distance(state.position, loc) : null;
  const card = el(
    "article",
    { class: `card sev-${incident.severity}${incident.status === "escalated" ? " hot" : ""}`, "data-incident": incident.id, "data-device": incident.device_id },
    el("header", {}, sevBadge(incident), el("b", {}, incident.title), statusBadge(incident)),
    el("p", { class: "where" }, place(incident) || incident.device_id),
    el(
      "p",
      { class: "meta" },
      `${incident.device_id} · ${incident.grid} · ${when(incident.opened_at)}`,
      here != null ? el("span", { class: "distance" }, " · " + t("wk.distance", { d: here < 1000 ? `${Math.round(here)} m` : `${(here / 1000).toFixed(1)} km` })) : null,
      loc.lat != null && here == null ? ` · ${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)}` : null,
      " ",
      countdown(incident),
    ),
  );
  if (step >= 3) {
    card.append(el("p", { class: "awaiting" }, t("wk.awaiting")));
    return card;
  }
  const act = (action) => () => act1(incident.id, action, card);
  card.append(
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", class: "primary", "data-action": "ack", disabled: step >= 1, onclick: act("ack") }, t("wk.ack")),
      el("button", { type: "button", class: "primary", "data-action": "arrive", disabled: step >= 2, onclick: act("arrive") }, t("wk.arrive")),
      el("button", { type: "button", class: "primary", "data-action": "handle", onclick: () => (form.hidden = !form.hidden) }, t("wk.handle")),
    ),
  );
  const form = el(
    "form",
    { class: "handle-form", hidden: true },
    el("label", {}, t("wk.note"), el("textarea", { name: "note", rows: 2 })),
    el("label", {}, t("wk.outcome"), el("select", { name: "outcome" }, OUTCOMES.map((o) => el("option", { value: o }, t("outcome." + o))))),
    el("label", {}, t("wk.photo"), el("input", { type: "file", name: "photo", accept: "image/jpeg,image/png,image/webp", capture: "environment" })),
    el("button", { type: "submit", class: "primary", "data-action": "handle-submit" }, t("wk.submit")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    handleIncident(incident.id, form, card).catch(fail);
  });
  card.append(form);
  return card;
}

async function act1(incidentId, action, card, extra) {
  card.classList.add("busy");
  try {
    const updated = await api(`/incidents/${encodeURIComponent(incidentId)}/actions`, { method: "POST", json: { action, ...(extra || {}) } });
    if (updated.status === "closed") state.incidents.delete(updated.id);
    else state.incidents.set(updated.id, updated);
    if (updated.status === "closed") state.closed = [updated, ...state.closed.filter((i) => i.id !== updated.id)].slice(0, 20);
    render();
    return updated;
  } catch (err) {
    card.classList.remove("busy");
    fail(err);
    return null;
  }
}

async function handleIncident(incidentId, form, card) {
  const file = form.photo.files[0];
  let note = form.note.value.trim();
  if (file) {
    if (file.size > state.config.evidence_max_bytes) throw new Error(`${file.name}: > ${state.config.evidence_max_bytes} bytes`);
    const photo = await api(`/incidents/${encodeURIComponent(incidentId)}/evidence`, {
      method: "POST",
      body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" },
    });
    note = (note ? note + "\n" : "") + `${t("wk.photo.ref")}: ${photo.name}`;
  }
  await act1(incidentId, "handle", card, { note, outcome: form.outcome.value });
}

// -- officer ----------------------------------------------------------------------------------

async function loadOfficer() {
  const [open, closed] = await Promise.all([api("/incidents?open=true&limit=500"), api("/incidents?open=false&limit=20")]);
  state.incidents = new Map(open.filter((i) => !i.test).map((i) => [i.id, i]));
  state.closed = closed.filter((i) => !i.test);
  renderOfficer();
  loadMap().catch(fail);
  loadStats().catch(fail);
  loadHealth().catch(fail);
}

function renderOfficer() {
  if (state.view !== "officer") return;
  const open = [...state.incidents.values()].sort(bySeverity);
  const counts = {};
  for (const i of open) counts[i.status] = (counts[i.status] || 0) + 1;
  $("#board-summary").replaceChildren(
    ...Object.entries(counts).map(([s, n]) => el("span", { class: `chip status-${s}` }, `${t("status." + s)} ${n}`)),
  );
  const body = $("#board-table tbody");
  body.replaceChildren(...(open.length ? open.flatMap(boardRow) : [el("tr", {}, el("td", { colspan: 8, class: "empty" }, t("of.none")))]));
  $("#closed-table tbody").replaceChildren(
    ...state.closed.map((i) =>
      el("tr", { "data-incident": i.id }, el("td", {}, sevBadge(i)), el("td", {}, i.title, el("small", {}, ` ${i.device_id} · ${i.id}`)), el("td", {}, i.grid), el("td", {}, statusBadge(i)), el("td", {}, i.outcome && has("outcome." + i.outcome) ? t("outcome." + i.outcome) : i.outcome || ""), el("td", {}, when(i.closed_at))),
    ),
  );
  if (state.maps.officer) state.maps.officer.setData({ incidents: open });
}

function boardRow(incident) {
  const hot = incident.status === "escalated" || incident.breaches.length > 0 || incident.escalation_level > 0;
  const note = el("input", { class: "note", "data-i18n-placeholder": "of.note", placeholder: t("of.note") });
  const actions = el("td", { class: "actions" });
  const row = el(
    "tr",
    { class: `sev-${incident.severity}${hot ? " hot" : ""}`, "data-incident": incident.id, "data-status": incident.status },
    el("td", {}, sevBadge(incident)),
    el("td", {}, el("b", {}, incident.title), el("br"), el("small", {}, `${incident.device_id} · ${place(incident)} · ${incident.id}`)),
    el("td", {}, incident.grid),
    el("td", {}, statusBadge(incident)),
    el("td", {}, when(incident.opened_at)),
    el("td", {}, countdown(incident)),
    el("td", {}, has("esc." + incident.escalation) ? t("esc." + incident.escalation) : incident.escalation, incident.breaches.length ? el("small", { class: "late" }, " ✕" + incident.breaches.join(",")) : null),
    actions,
  );
  const detail = el("tr", { class: "detail", hidden: true }, el("td", { colspan: 8 }));
  const step = (action) => () => act1(incident.id, action, row, { note: note.value.trim() });
  if (incident.status === "handled") actions.append(note, el("button", { type: "button", class: "primary", "data-action": "verify", onclick: step("verify") }, t("of.verify")));
  if (incident.status === "verified") actions.append(note, el("button", { type: "button", class: "primary", "data-action": "close", onclick: step("close") }, t("of.close")));
  actions.append(
    el("button", { type: "button", class: "link", "data-action": "details", onclick: () => toggleDetail(incident.id, detail) }, t("of.details")),
  );
  return [row, detail];
}

function eventName(event) {
  for (const key of ["status." + event, "ev." + event]) if (has(key)) return t(key);
  return event;
}

async function toggleDetail(incidentId, row) {
  row.hidden = !row.hidden;
  if (row.hidden) return;
  const cell = row.firstChild;
  const [full, photos] = await Promise.all([
    api(`/incidents/${encodeURIComponent(incidentId)}`),
    api(`/incidents/${encodeURIComponent(incidentId)}/evidence`).catch(() => []),
  ]);
  const gallery = el("div", { class: "photos" });
  cell.replaceChildren(
    el("h4", {}, t("of.timeline")),
    el("ol", { class: "timeline" }, full.timeline.map((e) => el("li", {}, `${when(e.at)} · ${eventName(e.event)} · ${e.actor}${e.note ? " · " + e.note : ""}`))),
    el("h4", {}, t("of.photos")),
    gallery,
  );
  for (const photo of photos) {
    // An <img src> cannot send the bearer header: fetch the bytes, show them from a blob.
    const response = await fetch(photo.url, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!response.ok) continue;
    const url = URL.createObjectURL(await response.blob());
    gallery.append(el("img", { src: url, alt: photo.name, "data-photo": photo.name }));
  }
}

async function loadMap() {
  if (!state.maps.officer) state.maps.officer = new GridMap($("#officer-map"), { tileUrl: state.config.tile_url });
  const [grids, devices] = await Promise.all([api("/grids"), api("/devices?limit=10000")]);
  state.maps.officer.setData({ grids: grids.features, devices, incidents: [...state.incidents.values()] });
}

async function loadStats() {
  const stats = await api("/stats");
  const rate = (r) => (r ? `${Math.round(r.rate * 100)}% (${r.on_time}/${r.judged})` : "—");
  const byGrid = new Map(stats.on_time.by_grid.map((r) => [r.key, r]));
  const grids = Object.entries(stats.counts.by_grid).sort((a, b) => b[1] - a[1]);
  $("#stats-body").replaceChildren(
    el("p", { class: "chips" }, Object.entries(stats.counts.by_kind).map(([k, n]) => el("span", { class: "chip" }, `${k} ${n}`))),
    el("h4", {}, t("of.stats.grid")),
    el(
      "table",
      { class: "figures", id: "stats-grid" },
      el("tr", {}, el("th", {}, t("of.grid")), el("th", {}, t("of.stats.count")), el("th", {}, t("of.stats.ontime"))),
      grids.map(([code, n]) => el("tr", { "data-grid": code }, el("td", {}, code), el("td", {}, String(n)), el("td", {}, rate(byGrid.get(code))))),
    ),
    el("h4", {}, t("of.stats.community")),
    el(
      "table",
      { class: "figures", id: "stats-community" },
      el("tr", {}, el("th", {}, t("of.stats.community")), el("th", {}, t("of.stats.judged")), el("th", {}, t("of.stats.ontime"))),
      stats.on_time.by_community.map((r) => el("tr", {}, el("td", {}, r.key), el("td", {}, String(r.judged)), el("td", {}, rate(r)))),
    ),
  );
}

async function loadHealth() {
  // /healthz answers 503 with the same body when degraded: read it either way.
  const response = await fetch(API + "/healthz", { cache: "no-store" });
  const health = await response.json();
  const ok = health.status === "ok";
  $("#health-body").replaceChildren(
    el("p", { class: ok ? "ok" : "error", "data-health": health.status }, ok ? "● " + t("of.health.ok") : "● " + t("of.health.bad")),
    el(
      "ul",
      { class: "plain" },
      Object.entries(health.components).map(([name, c]) => el("li", { class: c.ok ? "ok" : "error" }, `${c.ok ? "✓" : "✕"} ${name}: ${c.detail || ""}${c.buffered ? ` (${c.buffered})` : ""}`)),
    ),
  );
}

// -- start ------------------------------------------------------------------------------------

setInterval(() => document.querySelectorAll("[data-due]").forEach(tickDue), 1000);
setInterval(() => {
  if (state.view === "officer" && state.me) loadHealth().catch(() => {});
}, 15000);

document.addEventListener("DOMContentLoaded", async () => {
  applyI18n();
  $("#lang").addEventListener("click", () => {
    setLang(LANG === "zh" ? "en" : "zh");
    if (state.me) {
      $("#who").textContent = `${state.me.name} · ${t("role." + state.me.role)}`;
      setLive($("#stream-status").dataset.live === "true");
      render();
      if (state.view === "officer") loadOfficer().catch(fail);
    }
  });
  $("#signout").addEventListener("click", signOut);
  $("#signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("#signin-error").textContent = "";
    signIn($("#token").value.trim());
  });
  try {
    state.config = await (await fetch("config.json", { cache: "no-store" })).json();
  } catch (err) {
    /* defaults */
  }
  if (state.token) signIn(state.token);
});
