"use strict";
// Draws the run described by the JSON in #data. Written for any browser
// from a file:// URL: no module, no fetch, nothing outside this page.
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const app = document.getElementById("app");
  const NS = "http://www.w3.org/2000/svg";
  const lanes = D.servers.concat(D.clients);
  const ms = (ns) => (ns / 1e6).toFixed(3) + " ms";
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  const el = (tag, attrs, parent) => {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  };
  const sum = D.summary || {};
  const verdict = sum.verdict || (D.violations.length ? "fail" : "pass");
  let html = "<h1>" + esc(D.title) + " <span class='verdict " + esc(verdict) + "'>" + esc(verdict) + "</span></h1>";
  const hd = D.header || {};
  html += "<div class='small'>scenario " + esc(hd.scenario || sum.scenario || "?") + ", seed " + esc(hd.seed != null ? hd.seed : sum.seed) +
    ", drcsim " + esc(hd.drcsim || "") + (sum.trace_hash ? ", trace " + esc(sum.trace_hash) : "") + "</div>";
  if (D.cut) html += "<div class='note' id='cut-note'>Left out: " + esc(D.cut) + "</div>";
  html += "<h2>Violations (" + D.violations.length + ")</h2>";
  if (D.violations.length === 0) html += "<p>None.</p>";
  else {
    html += "<table class='viol'>";
    D.violations.forEach((v, i) => {
      html += "<tr><td><a data-v='" + i + "'>" + ms(v[0]) + "</a></td><td>" + esc(v[1]) + "</td><td>" + esc(v[2] != null ? lanes[v[2]] : "") + "</td><td>" + esc(v[3]) + "</td></tr>";
    });
    html += "</table>";
  }
  html += "<h2>Counters</h2><div class='counters'>";
  const counters = [["events", sum.events], ["simulated time", sum.sim_time_ms != null ? sum.sim_time_ms + " ms" : null],
    ["servers", D.servers.length], ["clients", D.clients.length], ["frames traced", D.frames.length]];
  for (const k in (sum.measures || {})) counters.push([k.replace(/_/g, " "), sum.measures[k]]);
  for (const k in (sum.stats || {})) counters.push(["server " + k.replace(/_/g, " "), sum.stats[k]]);
  counters.filter((c) => c[1] != null).forEach((c) => { html += "<span><i>" + esc(c[0]) + "</i> " + esc(c[1]) + "</span>"; });
  html += "</div>";
  html += "<h2>Space-time diagram</h2><div class='controls'>" +
    "<label>hosts <input type='text' id='f-hosts' placeholder='regex, e.g. ^s|alice'></label>" +
    "<label>messages <input type='text' id='f-cmd' placeholder='regex, e.g. RMSG|CSEND|SEQ'></label>" +
    "<label>room <input type='text' id='f-room' placeholder='room name'></label>" +
    "<button id='reset'>whole run</button><span class='small'>wheel: zoom, drag: pan, click: set the cursor; " +
    "orange: faults, purple: a client (re)connects, grey: its other actions, red triangle: a violation</span>" +
    "<span id='cursor-label' class='small'></span></div>";
  html += "<svg id='diagram'></svg>";
  html += "<h2>Tree at the cursor</h2><div class='flex tree' id='tree'></div>";
  html += "<h2>Rooms</h2><div id='rooms'></div>";
  html += "<h2>Clients</h2><div id='clients'></div>";
  app.innerHTML = html;

  // ---- space-time diagram ----
  const svg = document.getElementById("diagram");
  const W = Math.max(800, (app.clientWidth || 1200) - 50);
  const LEFT = 110, TOP = 24, LANE = lanes.length > 40 ? 12 : 26;
  const H = TOP + LANE * lanes.length + 20;
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  const end = Math.max(1, D.end_ns);
  // Opens on the violations, with two seconds either side; the whole
  // run is one click away.
  const firstV = D.violations.length ? D.violations[0][0] : null;
  const lastV = D.violations.length ? D.violations[D.violations.length - 1][0] : null;
  let view = firstV == null ? [0, end] : [Math.max(0, firstV - 2e9), Math.min(end, lastV + 2e9)];
  let cursor = D.violations.length ? D.violations[0][0] : 0;
  const x = (tns) => LEFT + ((tns - view[0]) / (view[1] - view[0])) * (W - LEFT - 10);
  const tOf = (px) => view[0] + ((px - LEFT) / (W - LEFT - 10)) * (view[1] - view[0]);
  const laneY = (i) => TOP + LANE * i + LANE / 2;
  const filters = { hosts: null, cmd: null, room: "" };
  const re = (s) => { try { return s ? new RegExp(s) : null; } catch (e) { return null; } };
  // A stall or a partition stays until its end or the next heal.
  const bands = [];
  D.faults.forEach((f, i) => {
    if (f[1] === "stall") bands.push([f[0], f[0] + f[4], f[2]]);
    if (f[1] === "partition") {
      const heal = D.faults.slice(i + 1).find((g) => g[1] === "heal" || g[1] === "partition");
      bands.push([f[0], heal ? heal[0] : end, f[2]]);
    }
  });
  function draw() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const hostRe = filters.hosts, cmdRe = filters.cmd;
    const laneOn = lanes.map((h) => !hostRe || hostRe.test(h));
    const axis = el("g", { class: "axis" }, svg);
    for (let k = 0; k <= 10; k++) {
      const tt = view[0] + (k / 10) * (view[1] - view[0]);
      el("line", { x1: x(tt), x2: x(tt), y1: TOP - 6, y2: H - 14 }, axis);
      el("text", { x: x(tt) + 2, y: 12 }, axis).textContent = ms(tt);
    }
    bands.forEach((b) => {
      if (b[1] < view[0] || b[0] > view[1]) return;
      const x0 = Math.max(LEFT, x(b[0])), x1 = Math.min(W - 10, x(b[1]));
      el("rect", { class: "band", x: x0, y: TOP, width: Math.max(1, x1 - x0), height: LANE * lanes.length }, svg);
      el("text", { class: "band-label", x: x0 + 2, y: H - 4 }, svg).textContent = b[2];
    });
    const lg = el("g", { id: "lanes" }, svg);
    lanes.forEach((h, i) => {
      const g = el("g", { class: "lane", "data-host": h }, lg);
      if (!laneOn[i]) g.setAttribute("opacity", "0.25");
      el("line", { x1: LEFT, x2: W - 10, y1: laneY(i), y2: laneY(i) }, g);
      el("text", { x: 4, y: laneY(i) + 4 }, g).textContent = (i < D.servers.length ? "" : "· ") + h;
    });
    D.faults.forEach((f) => {
      if (f[1] === "stall" || f[1] === "partition" || f[0] < view[0] || f[0] > view[1]) return;
      const ys = f[3].filter((l) => l != null).map(laneY);
      const y0 = ys.length ? Math.min(...ys) - LANE / 2 : TOP, y1 = ys.length ? Math.max(...ys) + LANE / 2 : H - 20;
      const m = el("line", { class: "fault-mark", x1: x(f[0]), x2: x(f[0]), y1: y0, y2: y1 }, svg);
      el("title", {}, m).textContent = ms(f[0]) + " " + f[2];
    });
    // A client's own actions (connect, nick, join, say, quit) as ticks
    // on its lane; a connect to another server is a move.
    D.chat.forEach((c) => {
      if (c[1] == null || c[0] < view[0] || c[0] > view[1] || !laneOn[c[1]]) return;
      const move = /^connect /.test(c[2]), quit = /^quit/.test(c[2]);
      const m = el("rect", { class: "client-mark", x: x(c[0]) - 1.5, y: laneY(c[1]) - LANE / 3, width: 3, height: (2 * LANE) / 3,
        fill: move ? "#8e44ad" : quit ? "#555" : "#95a5a6" }, svg);
      el("title", {}, m).textContent = ms(c[0]) + " " + lanes[c[1]] + ": " + c[2];
    });
    const ag = el("g", { id: "arrows" }, svg);
    let drawn = 0;
    const budget = 6000;
    const room = filters.room;
    const visible = D.frames.filter((f) => {
      const t1 = f[4] == null ? end : f[4];
      if (t1 < view[0] || f[3] > view[1]) return false;
      if (f[1] == null || f[2] == null || !laneOn[f[1]] && !laneOn[f[2]]) return false;
      if (cmdRe && !cmdRe.test(f[5])) return false;
      if (room && f[6].split(",").indexOf(room) < 0) return false;
      return true;
    });
    const step = Math.max(1, Math.ceil(visible.length / budget));
    for (let i = 0; i < visible.length; i += step) {
      const f = visible[i];
      const fate = f[7];
      const t1 = f[4] == null ? end : f[4];
      const cls = fate === "d" ? "arrow" : fate === "f" ? "arrow inflight" : "arrow dropped";
      const a = el("line", { class: cls, x1: x(f[3]), y1: laneY(f[1]), x2: x(t1), y2: laneY(f[2]), "marker-end": "url(#head)" }, ag);
      el("title", {}, a).textContent = f[5] + " " + f[6] + "\n" + lanes[f[1]] + " → " + lanes[f[2]] + "\nsent " + ms(f[3]) +
        (f[4] == null ? " (never arrived)" : ", " + (fate === "d" ? "delivered " : "dropped (" + fate.slice(2) + ") ") + ms(f[4]));
      drawn++;
    }
    const defs = el("defs", {}, svg);
    const mk = el("marker", { id: "head", markerWidth: 6, markerHeight: 6, refX: 5, refY: 3, orient: "auto" }, defs);
    el("path", { d: "M0,0 L6,3 L0,6 z", fill: "#4a6fa5" }, mk);
    if (step > 1) el("text", { x: LEFT, y: H - 4, class: "band-label" }, svg).textContent =
      "one arrow in " + step + " of " + visible.length + " shown; zoom in for all";
    D.violations.forEach((v, i) => {
      if (v[0] < view[0] || v[0] > view[1]) return;
      const y = v[2] != null ? laneY(v[2]) : TOP;
      const p = el("path", { class: "violation-mark", "data-v": i, d: "M" + x(v[0]) + "," + (y - 8) + " l7,14 l-14,0 z" }, svg);
      el("title", {}, p).textContent = "VIOLATION " + v[1] + " at " + ms(v[0]) + ": " + v[3];
    });
    if (cursor >= view[0] && cursor <= view[1])
      el("line", { class: "cursor", x1: x(cursor), x2: x(cursor), y1: TOP - 8, y2: H - 14 }, svg);
    svg.setAttribute("data-arrows", drawn);
    document.getElementById("cursor-label").textContent = "cursor " + ms(cursor);
  }
  function zoomTo(t0, t1) {
    view = [Math.max(0, t0), Math.min(end, Math.max(t1, t0 + 1000))];
    draw();
  }
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const at = tOf(e.offsetX), k = e.deltaY < 0 ? 0.8 : 1.25;
    zoomTo(at - (at - view[0]) * k, at + (view[1] - at) * k);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", (e) => { drag = { x: e.clientX, view: view.slice(), moved: false }; });
  window.addEventListener("mousemove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    if (Math.abs(dx) > 3) drag.moved = true;
    const dt = (dx / (W - LEFT - 10)) * (drag.view[1] - drag.view[0]);
    view = [drag.view[0] - dt, drag.view[1] - dt];
    draw();
  });
  window.addEventListener("mouseup", (e) => {
    if (drag && !drag.moved) setCursor(tOf(e.offsetX));
    drag = null;
  });
  document.getElementById("f-hosts").addEventListener("input", (e) => { filters.hosts = re(e.target.value); draw(); });
  document.getElementById("f-cmd").addEventListener("input", (e) => { filters.cmd = re(e.target.value); draw(); });
  document.getElementById("f-room").addEventListener("input", (e) => { filters.room = e.target.value.trim(); draw(); });
  document.getElementById("reset").addEventListener("click", () => zoomTo(0, end));
  document.querySelectorAll(".viol a").forEach((a) => a.addEventListener("click", () => {
    const v = D.violations[+a.dataset.v];
    const span = Math.max(2e6, (view[1] - view[0]) / 10);
    cursor = v[0];
    zoomTo(v[0] - span, v[0] + span);
    drawTree();
    svg.scrollIntoView();
  }));
  function setCursor(tns) {
    cursor = Math.max(0, Math.min(end, tns));
    draw();
    drawTree();
  }

  // ---- the tree at the cursor ----
  function treeAt(at) {
    const reg = {}, views = {}, down = {};
    for (const e of D.tree) {
      if (e[0] > at) break;
      if (e[1] === "link_registered" && e[3] != null) { (reg[e[3]] = reg[e[3]] || {})[e[2]] = e[4]; }
      else if (e[1] === "link_down" && e[3] != null && reg[e[3]]) delete reg[e[3]][e[2]];
      else if (e[1] === "view") views[e[2]] = e[3];
    }
    for (const f of D.faults) {
      if (f[0] > at) break;
      const s = f[2].match(/server=(\S+)/);
      if (!s) continue;
      if (f[1] === "crash") { down[s[1]] = true; views[s[1]] = []; for (const c in reg) delete reg[c][s[1]]; }
      if (f[1] === "restart" || f[1] === "add_server") { delete down[s[1]]; }
    }
    const links = {};
    for (const c in reg) {
      const ends = Object.keys(reg[c]);
      if (ends.length === 2) links[ends.sort().join("\u0000")] = true;
    }
    return { links, views, down };
  }
  function drawTree() {
    const box = document.getElementById("tree");
    const T = treeAt(cursor);
    const n = D.servers.length, R = Math.max(60, Math.min(200, n * 14)), S = 2 * R + 80;
    const pos = {};
    D.servers.forEach((h, i) => { const a = (2 * Math.PI * i) / Math.max(1, n) - Math.PI / 2; pos[h] = [S / 2 + R * Math.cos(a), S / 2 + R * Math.sin(a)]; });
    const s = document.createElementNS(NS, "svg");
    s.setAttribute("width", S); s.setAttribute("height", S);
    el("text", { x: 6, y: 14, "font-size": 12 }, s).textContent = "real links at " + ms(cursor);
    // Union-find over real links: the components.
    const parent = {};
    const find = (a) => (parent[a] === a || parent[a] == null ? (parent[a] = a) : (parent[a] = find(parent[a])));
    D.servers.forEach((h) => (parent[h] = h));
    for (const k in T.links) {
      const [a, b] = k.split("\u0000");
      if (!pos[a] || !pos[b]) continue;
      el("line", { x1: pos[a][0], y1: pos[a][1], x2: pos[b][0], y2: pos[b][1], stroke: "#2c3e50", "stroke-width": 2, class: "real-link" }, s);
      parent[find(a)] = find(b);
    }
    D.servers.forEach((h) => {
      el("circle", { cx: pos[h][0], cy: pos[h][1], r: 5, fill: T.down[h] ? "#bbb" : "#2c3e50" }, s);
      el("text", { x: pos[h][0] + 7, y: pos[h][1] - 5, "font-size": 11 }, s).textContent = h + (T.down[h] ? " (down)" : "");
    });
    const comps = {};
    D.servers.filter((h) => !T.down[h]).forEach((h) => { (comps[find(h)] = comps[find(h)] || []).push(h); });
    let side = "<div><b>components</b><ul>" + Object.values(comps).map((c) => "<li>" + esc(c.join(", ")) + "</li>").join("") + "</ul>";
    side += "<b>each server's view</b> (known server ← its uplink; <span class='wrong'>red</span>: no such real link)<table>";
    D.servers.forEach((h) => {
      const v = T.views[h] || [];
      const items = v.map((p) => {
        const real = T.links[[p[0], p[1]].sort().join("\u0000")];
        return "<span class='" + (real ? "" : "wrong") + "'>" + esc(p[0]) + "←" + esc(p[1]) + "</span>";
      });
      side += "<tr><td>" + esc(h) + "</td><td>" + (T.down[h] ? "<i>down</i>" : items.join(" ") || "<i>alone</i>") + "</td></tr>";
    });
    side += "</table></div>";
    box.innerHTML = "";
    box.appendChild(s);
    box.insertAdjacentHTML("beforeend", side);
  }

  // ---- rooms: the stream and each member's order ----
  function drawRooms() {
    const box = document.getElementById("rooms");
    const names = Object.keys(D.rooms);
    if (!names.length) { box.innerHTML = "<p>No room traffic.</p>"; return; }
    let h = "<p class='small'>Numbers per stream (epoch@sequencer). Member rows: <span class='stream'><span class='gap'>n</span></span> gap closed, " +
      "<span class='stream'><span class='dup'>n</span></span> delivered twice (order.once), <span class='stream'><span class='ooo'>n</span></span> another ordering violation, " +
      "<span class='stream'><span class='skip'>n</span></span> skipped by the sequencer.</p>";
    for (const r of names) {
      const R = D.rooms[r];
      h += "<h3>" + esc(r) + "</h3><table>";
      const streams = {};
      R.seq.forEach((q) => { (streams[q[1]] = streams[q[1]] || []).push(q); });
      for (const st in streams)
        h += "<tr><td>stream " + esc(st) + "</td><td class='stream'>" + streams[st].map((q) =>
          "<span class='" + (q[3] == null ? "skip" : "") + "' title='" + esc(ms(q[0]) + (q[3] ? " from " + q[3] : " skipped")) + "'>" + q[2] + "</span>").join("") + "</td></tr>";
      for (const m in R.members) {
        const seen = {};
        const cells = R.members[m].filter((d) => d[3] !== "s").map((d) => {
          // A number delivered twice is a duplicate on its face; anything
          // else is marked only where a checker fired at that delivery.
          const key = d[1] + "#" + d[2];
          let cls = d[3] === "g" ? "gap" : "";
          if (d[3] === "d") {
            if (seen[key] || d[6] === "order.once") cls = "dup";
            else if (d[6]) cls = "ooo";
            seen[key] = true;
          }
          return "<span class='" + cls + "' data-delivery='" + d[3] + "' title='" + esc(ms(d[0]) + " " + d[1] + (d[4] ? " from " + d[4] : "") + ": " + d[5] + (d[6] ? " [" + d[6] + "]" : "")) + "'>" + d[2] + "</span>";
        });
        h += "<tr><td>" + esc(m) + "</td><td class='stream'>" + cells.join("") + "</td></tr>";
      }
      h += "</table>";
    }
    box.innerHTML = h;
  }

  function drawClients() {
    const box = document.getElementById("clients");
    if (!D.clients.length) { box.innerHTML = "<p>No clients.</p>"; return; }
    let h = "<table>";
    for (const c of D.clients) {
      const log = D.client_log[c] || [];
      h += "<tr><td><b>" + esc(c) + "</b></td><td class='small'>" + log.map((e) => esc(ms(e[0]) + " " + e[2])).join("<br>") + "</td></tr>";
    }
    box.innerHTML = h + "</table>";
  }

  draw();
  drawTree();
  drawRooms();
  drawClients();
  document.body.setAttribute("data-render", "ok");
})();
