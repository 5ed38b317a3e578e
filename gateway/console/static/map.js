// A map drawn as SVG: the grid polygons, devices and open incidents, in Web Mercator.
// Works with no tiles at all (a private network without a tile server); when the setting
// console_tile_url names one ("…/{z}/{x}/{y}.png"), its raster tiles are drawn underneath.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const MAP_W = 800;
const MAP_H = 560;

function mercator(lon, lat) {
  const s = Math.sin((lat * Math.PI) / 180);
  return [(lon + 180) / 360, 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)];
}

function unmercator(x, y) {
  const lon = x * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - 2 * y))) * 180) / Math.PI;
  return [lon, lat];
}

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return [];
}

class GridMap {
  // options: {tileUrl, onPick(lat, lon)}
  constructor(svg, options) {
    this.svg = svg;
    this.options = options || {};
    this.svg.setAttribute("viewBox", `0 0 ${MAP_W} ${MAP_H}`);
    this.svg.classList.add("gridmap");
    this.grids = [];
    this.devices = [];
    this.incidents = [];
    this.pick = null;
    this.svg.addEventListener("click", (ev) => this._click(ev));
  }

  setData({ grids, devices, incidents }) {
    if (grids) this.grids = grids;
    if (devices) this.devices = devices;
    if (incidents) this.incidents = incidents;
    this.draw();
  }

  setPick(lat, lon) {
    this.pick = Number.isFinite(lat) && Number.isFinite(lon) ? [lat, lon] : null;
    this.draw();
  }

  _fit() {
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    const add = (lon, lat) => {
      const [x, y] = mercator(lon, lat);
      minX = Math.min(minX, x); maxX = Math.max(maxX, x);
      minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    };
    // Frame the base grids (网格) when there are any: a street's outline would dwarf them.
    const base = this.grids.filter((f) => f.properties.level === "grid" && f.geometry);
    for (const f of base.length ? base : this.grids) for (const ring of rings(f.geometry)) for (const [lon, lat] of ring) add(lon, lat);
    for (const d of this.devices) if (d.location.lat != null) add(d.location.lon, d.location.lat);
    if (!Number.isFinite(minX)) add(121.47, 31.23); // nothing to show yet: somewhere sensible
    const pad = Math.max(maxX - minX, maxY - minY, 1e-5) * 0.06;
    minX -= pad; maxX += pad; minY -= pad; maxY += pad;
    const scale = Math.min(MAP_W / (maxX - minX), MAP_H / (maxY - minY));
    const ox = (MAP_W - (maxX - minX) * scale) / 2 - minX * scale;
    const oy = (MAP_H - (maxY - minY) * scale) / 2 - minY * scale;
    this.t = { scale, ox, oy };
  }

  _xy(lon, lat) {
    const [x, y] = mercator(lon, lat);
    return [x * this.t.scale + this.t.ox, y * this.t.scale + this.t.oy];
  }

  _tiles(layer) {
    const url = this.options.tileUrl;
    if (!url) return;
    const { scale, ox, oy } = this.t;
    const z = Math.max(0, Math.min(19, Math.round(Math.log2(scale / 256))));
    const n = 2 ** z;
    const size = scale / n;
    const x0 = Math.floor((-ox / scale) * n), x1 = Math.floor(((MAP_W - ox) / scale) * n);
    const y0 = Math.floor((-oy / scale) * n), y1 = Math.floor(((MAP_H - oy) / scale) * n);
    if ((x1 - x0 + 1) * (y1 - y0 + 1) > 64) return;
    for (let x = x0; x <= x1; x++) {
      for (let y = y0; y <= y1; y++) {
        if (y < 0 || y >= n) continue;
        const href = url.replace("{z}", z).replace("{x}", ((x % n) + n) % n).replace("{y}", y);
        svgEl("image", { href, x: x * size + ox, y: y * size + oy, width: size + 0.5, height: size + 0.5 }, layer);
      }
    }
  }

  draw() {
    this._fit();
    const svg = this.svg;
    svg.replaceChildren();
    svgEl("rect", { x: 0, y: 0, width: MAP_W, height: MAP_H, class: "map-bg" }, svg);
    this._tiles(svgEl("g", { class: "tiles" }, svg));
    const hot = new Set(this.incidents.map((i) => i.grid));
    const order = { district: 0, street: 1, community: 2, grid: 3 };
    const grids = [...this.grids].sort((a, b) => order[a.properties.level] - order[b.properties.level]);
    const layer = svgEl("g", { class: "grids" }, svg);
    for (const f of grids) {
      const parts = rings(f.geometry);
      if (!parts.length) continue;
      const d = parts
        .map((ring) => "M" + ring.map(([lon, lat]) => this._xy(lon, lat).map((v) => v.toFixed(1)).join(",")).join("L") + "Z")
        .join("");
      const p = f.properties;
      const path = svgEl("path", { d, class: `unit unit-${p.level}${hot.has(p.code) ? " unit-hot" : ""}`, "data-grid": p.code }, layer);
      svgEl("title", {}, path).textContent = `${p.code} ${p.name}`;
      if (p.level === "grid" || p.level === "community") {
        const xs = parts[0].map(([lon, lat]) => this._xy(lon, lat));
        const cx = (Math.min(...xs.map((q) => q[0])) + Math.max(...xs.map((q) => q[0]))) / 2;
        const top = Math.min(...xs.map((q) => q[1]));
        const bottom = Math.max(...xs.map((q) => q[1]));
        const y = p.level === "grid" ? (top + bottom) / 2 : top + 14;
        svgEl("text", { x: cx, y, class: `label label-${p.level}` }, layer).textContent = p.level === "grid" ? p.code : p.name;
      }
    }
    const points = svgEl("g", { class: "points" }, svg);
    for (const dev of this.devices) {
      if (dev.location.lat == null) continue;
      const [x, y] = this._xy(dev.location.lon, dev.location.lat);
      const c = svgEl("circle", { cx: x, cy: y, r: 5, class: `device device-${dev.status}`, "data-device": dev.id }, points);
      svgEl("title", {}, c).textContent = `${dev.id} ${dev.name} (${dev.status})`;
    }
    for (const inc of this.incidents) {
      if (inc.location.lat == null) continue;
      const [x, y] = this._xy(inc.location.lon, inc.location.lat);
      const g = svgEl("g", { class: `incident sev-${inc.severity}`, "data-incident": inc.id }, points);
      svgEl("circle", { cx: x, cy: y, r: 14, class: "pulse" }, g);
      svgEl("circle", { cx: x, cy: y, r: 7, class: "dot" }, g);
      svgEl("title", {}, g).textContent = `${inc.title} — ${inc.device_id} (${t("status." + inc.status)})`;
    }
    if (this.pick) {
      const [x, y] = this._xy(this.pick[1], this.pick[0]);
      const g = svgEl("g", { class: "pick" }, svg);
      svgEl("path", { d: `M${x},${y} l-9,-22 a10,10 0 1,1 18,0 z`, class: "pin" }, g);
      svgEl("circle", { cx: x, cy: y - 24, r: 4, class: "pin-hole" }, g);
    }
  }

  _click(ev) {
    if (!this.options.onPick || !this.t) return;
    const pt = this.svg.createSVGPoint();
    pt.x = ev.clientX;
    pt.y = ev.clientY;
    const local = pt.matrixTransform(this.svg.getScreenCTM().inverse());
    const [lon, lat] = unmercator((local.x - this.t.ox) / this.t.scale, (local.y - this.t.oy) / this.t.scale);
    this.options.onPick(Number(lat.toFixed(6)), Number(lon.toFixed(6)));
  }
}
