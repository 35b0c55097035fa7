// legwake live view: desks and alerts from /api/stream (server-sent events): a snapshot,
// then updates that add, change or remove a desk (one the dashboard stopped following).
// Everything shown is built with textContent: no message text is ever parsed as HTML.
"use strict";

const LEAD_TIME_S = Number(document.querySelector("main.live").dataset.leadTimeS) || 180;
const GAUGE_SCALE_S = 900;          // an empty arc: 15 min or more until numb
const ARC = Math.PI * 50;           // the gauge's path length (radius 50)
const CONTACT_MMHG = 5, MAP_MAX_MMHG = 200;  // the report's fixed scale

const POSTURES = {
  empty: "Seat empty", upright: "Upright", leaning_left: "Leaning left",
  leaning_right: "Leaning right", slouched: "Slouched",
  crossed_left_over_right: "Legs crossed, left over right",
  crossed_right_over_left: "Legs crossed, right over left",
  foot_under_left: "Left foot tucked under", foot_under_right: "Right foot tucked under",
  standing: "Standing",
};
const SITES = {
  sciatic: "sciatic nerve", thigh: "back of the thigh", peroneal: "peroneal nerve (knee)",
};
const SENSORS = { mat: "Mat", imu_left: "Left thigh", imu_right: "Right thigh" };
const STATUS_TEXT = { online: "Online", offline: "Offline", stale: "No data", unknown: "Waiting" };
const ALERT_STATUS = {
  open: "Open", acknowledged: "Acknowledged", snoozed: "Snoozed",
  moved: "Moved in time", unanswered: "No response",
};

const desks = new Map();   // key -> {element, view, clock}
const alerts = new Map();  // key -> {element, view}

// --- colours --------------------------------------------------------------------------

function turbo(x) {
  // Polynomial fit of matplotlib's "turbo" colormap (the report's), x in 0..1.
  x = Math.min(1, Math.max(0, x));
  const r = 0.13572138 + x * (4.61539260 + x * (-42.66032258 + x * (132.13108234 + x * (-152.94239396 + x * 59.28637943))));
  const g = 0.09140261 + x * (2.19418839 + x * (4.84296658 + x * (-14.18503333 + x * (4.27729857 + x * 2.82956604))));
  const b = 0.10667330 + x * (12.64194608 + x * (-60.58204836 + x * (110.36276771 + x * (-89.90310912 + x * 27.34824973))));
  const c = (v) => Math.round(255 * Math.min(1, Math.max(0, v)));
  return [c(r), c(g), c(b)];
}

function scaleGradient() {
  const stops = [];
  for (let i = 0; i <= 10; i++) stops.push(`rgb(${turbo(i / 10).join(",")}) ${i * 10}%`);
  return `linear-gradient(90deg, ${stops.join(", ")})`;
}

// --- formatting -----------------------------------------------------------------------

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? `${h}:` : "") + `${mm}:${String(r).padStart(2, "0")}`;
}

function duration(seconds) {
  const m = Math.round(seconds / 60);
  if (m < 1) return "under a minute";
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

function localTime(iso, withSeconds) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined });
}

function siteText(site) {
  if (!site) return "";
  const [part, side] = site.split("_");
  return `${side} ${SITES[part] || part}`;
}

// --- desks ----------------------------------------------------------------------------

function deskStatus(view) {
  // A state before any retained status (a broker that lost it) still means the agent runs.
  if (view.status === "offline") return "offline";
  if (view.stale) return "stale";
  return view.status === "online" || view.state ? "online" : "unknown";
}

function deskElement(view) {
  let entry = desks.get(view.key);
  if (!entry) {
    const element = document.getElementById("desk-template").content.firstElementChild.cloneNode(true);
    element.id = `desk-${view.key.replace(/[^A-Za-z0-9_-]/g, "-")}`;
    element.dataset.desk = view.key;
    element.querySelector(".desk-name").textContent = view.desk;
    element.querySelector(".desk-name").title = `site ${view.site}`;
    element.querySelector(".scale .bar").style.background = scaleGradient();
    for (const gauge of element.querySelectorAll(".gauge")) {
      const angle = Math.PI * (1 - LEAD_TIME_S / GAUGE_SCALE_S);  // where the alert comes
      const mark = gauge.querySelector(".lead-mark");
      const [cx, cy] = [60, 62];
      mark.setAttribute("x1", cx - 43 * Math.cos(angle)); mark.setAttribute("y1", cy - 43 * Math.sin(angle));
      mark.setAttribute("x2", cx - 57 * Math.cos(angle)); mark.setAttribute("y2", cy - 57 * Math.sin(angle));
      gauge.querySelector(".fill").style.strokeDasharray = `0 ${ARC}`;
    }
    const grid = document.getElementById("desks");
    const after = [...grid.querySelectorAll(".desk")].find((d) => d.dataset.desk > view.key);
    grid.insertBefore(element, after || null);
    entry = { element, view, clock: null };
    desks.set(view.key, entry);
  }
  document.getElementById("no-desks").hidden = desks.size > 0;
  return entry;
}

function renderDesk(view) {
  const entry = deskElement(view);
  const el = entry.element;
  const status = deskStatus(view);
  el.dataset.status = status;
  el.querySelector(".status-badge").textContent = STATUS_TEXT[status];
  const state = view.state;
  const previous = entry.view && entry.view.state;
  entry.view = view;
  if (!state) return;
  if (!previous || previous !== state) {
    // The data's clock against ours: how fast the agent's seconds pass (1 live, more in a demo).
    const now = performance.now();
    const last = entry.clock;
    let rate = last ? last.rate : 1;
    if (last && state.t > last.t && now > last.at) {
      const measured = (state.t - last.t) / ((now - last.at) / 1000);
      rate = Math.min(1000, Math.max(0.05, last.samples ? 0.7 * last.rate + 0.3 * measured : measured));
    }
    entry.clock = { t: state.t, at: now, rate, samples: last ? last.samples + 1 : 0 };
  }
  el.dataset.posture = state.posture;
  el.querySelector(".posture").textContent = POSTURES[state.posture] || state.posture;
  el.querySelector(".confidence").textContent =
    state.confidence != null ? `${Math.round(state.confidence * 100)} % sure` : "";
  const sensors = el.querySelector(".sensors");
  sensors.replaceChildren(...Object.entries(state.sensors || {}).map(([name, health]) => {
    const li = document.createElement("li");
    li.dataset.sensor = name;
    li.dataset.health = health;
    li.textContent = SENSORS[name] || name;
    li.title = `${SENSORS[name] || name}: ${health}`;
    return li;
  }));
  drawSeat(el, state.seat);
  renderBreaks(el, state);
  renderGauges(entry);
}

function worstOfLeg(sites, leg) {
  let worst = null;
  for (const [site, value] of Object.entries(sites || {})) {
    if (!site.endsWith(`_${leg}`) || !value) continue;
    const ttn = value.time_to_numbness_s;
    const candidate = { site, ttn, pressure: value.pressure_mmhg };
    if (!worst) { worst = candidate; continue; }
    const a = ttn == null ? Infinity : ttn, b = worst.ttn == null ? Infinity : worst.ttn;
    if (a < b || (a === b && (value.pressure_mmhg || 0) > (worst.pressure || 0))) worst = candidate;
  }
  return worst;
}

function renderGauges(entry) {
  const el = entry.element, state = entry.view.state;
  if (!state) return;
  const live = el.dataset.status === "online";
  const elapsed = live && entry.clock ? ((performance.now() - entry.clock.at) / 1000) * entry.clock.rate : 0;
  let alarm = false;
  for (const gauge of el.querySelectorAll(".gauge")) {
    const leg = gauge.dataset.leg;
    const worst = worstOfLeg(state.sites, leg);
    const countdown = gauge.querySelector(".countdown");
    const caption = gauge.querySelector(".worst");
    if (!worst || worst.ttn == null) {
      gauge.dataset.level = "none";
      gauge.querySelector(".fill").style.strokeDasharray = `0 ${ARC}`;
      countdown.textContent = "No numbness ahead";
      caption.textContent = worst && worst.pressure != null ? `highest ${Math.round(worst.pressure)} mmHg (${siteText(worst.site)})` : "";
      gauge.dataset.ttn = "";
      continue;
    }
    const ttn = Math.max(0, worst.ttn - elapsed);
    const load = 1 - Math.min(ttn, GAUGE_SCALE_S) / GAUGE_SCALE_S;
    gauge.dataset.level = ttn <= LEAD_TIME_S ? "alert" : ttn <= 2 * LEAD_TIME_S ? "warn" : "ok";
    alarm = alarm || ttn <= LEAD_TIME_S;
    gauge.dataset.ttn = String(Math.round(ttn));
    gauge.querySelector(".fill").style.strokeDasharray = `${(load * ARC).toFixed(1)} ${ARC}`;
    countdown.textContent = ttn <= 0 ? "Asleep" : clock(ttn);
    countdown.title = "time until numb";
    caption.textContent = `${siteText(worst.site)}, ${Math.round(worst.pressure || 0)} mmHg`;
  }
  el.dataset.alarm = String(alarm);
}

function drawSeat(el, seat) {
  const canvas = el.querySelector(".heatmap");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const load = el.querySelector(".seat-load");
  const grid = seat && seat.map_mmhg;
  if (!grid || !grid.length) {
    ctx.fillStyle = "#adb5bd";
    ctx.font = "14px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillText("no mat data", canvas.width / 2, canvas.height / 2);
    load.textContent = "";
    canvas.dataset.cells = "0";
    return;
  }
  const rows = grid.length, cols = grid[0].length;
  const w = canvas.width / cols, h = canvas.height / rows;
  let contact = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = grid[i][j];
      if (v < CONTACT_MMHG) { ctx.fillStyle = "#f1f3f5"; }
      else {
        contact++;
        const [r, g, b] = turbo((v - CONTACT_MMHG) / (MAP_MAX_MMHG - CONTACT_MMHG));
        ctx.fillStyle = `rgb(${r},${g},${b})`;
      }
      ctx.fillRect(j * w, i * h, Math.ceil(w), Math.ceil(h));
    }
  }
  canvas.dataset.cells = String(contact);
  load.textContent = seat.load_n != null ? `Load on the seat ${Math.round(seat.load_n / 9.81)} kg` : "";
}

function renderBreaks(el, state) {
  const sitting = el.querySelector(".sitting");
  const last = el.querySelector(".last-break");
  sitting.replaceChildren();
  if (state.sitting_s != null) {
    sitting.append("Seated for ");
    const strong = document.createElement("strong");
    strong.textContent = duration(state.sitting_s);
    sitting.append(strong);
  } else {
    sitting.textContent = state.posture === "standing" || state.posture === "empty" ? "Up and away" : "";
  }
  const brk = state.last_break;
  last.replaceChildren();
  if (!brk) { last.textContent = "No break yet"; return; }
  if (!brk.end) {
    last.textContent = `On a break since ${localTime(brk.start)}`;
    return;
  }
  last.append("Last break ");
  const strong = document.createElement("strong");
  strong.textContent = `${localTime(brk.start)}–${localTime(brk.end)}`;
  last.append(strong, ` (${duration(brk.length_s)})`);
}

// --- alerts ---------------------------------------------------------------------------

function renderAlert(view, fresh) {
  let entry = alerts.get(view.key);
  if (!entry) {
    const element = document.getElementById("alert-template").content.firstElementChild.cloneNode(true);
    element.dataset.alert = view.key;
    element.dataset.kind = view.kind;
    element.querySelector(".ack").addEventListener("click", () => send("ack", entry));
    element.querySelector(".snooze").addEventListener("click", () => send("snooze", entry));
    const list = document.getElementById("alerts");
    if (fresh) {
      list.prepend(element);
      element.classList.add("fresh");
    } else {
      list.append(element);
    }
    entry = { element, view };
    alerts.set(view.key, entry);
  }
  entry.view = view;
  const el = entry.element;
  el.dataset.status = view.status;
  el.querySelector(".kind").textContent = view.kind === "break" ? "Break" : "Numbness";
  el.querySelector(".alert-desk").textContent = view.desk.split("/")[1];
  const time = el.querySelector("time");
  time.dateTime = view.time || "";
  time.textContent = view.time ? localTime(view.time, true) : "";
  el.querySelector(".message").textContent = view.message || "";
  el.querySelector(".alert-status").textContent = alertStatusText(view);
  document.getElementById("no-alerts").hidden = alerts.size > 0;
}

function alertStatusText(view) {
  let text = ALERT_STATUS[view.status] || view.status;
  if (view.status === "snoozed" && view.snoozed_min) text += ` ${view.snoozed_min} min`;
  const outcome = view.outcome;
  if (outcome && outcome.moved && outcome.response_s != null && view.status !== "moved") {
    text += ` · moved after ${clock(outcome.response_s)}`;
  } else if (outcome && view.status === "moved" && outcome.response_s != null) {
    text += ` (${clock(outcome.response_s)})`;
  }
  return text;
}

async function send(kind, entry) {
  const el = entry.element;
  const error = el.querySelector(".alert-error");
  error.hidden = true;
  const body = { desk: entry.view.desk, id: entry.view.id };
  if (kind === "snooze") body.minutes = Number(el.querySelector(".snooze-minutes").value);
  for (const b of el.querySelectorAll("button")) b.disabled = true;
  try {
    const response = await fetch(`/api/${kind}`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), credentials: "same-origin",
    });
    if (!response.ok) {
      const answer = await response.json().catch(() => ({}));
      throw new Error(answer.error || `${response.status} ${response.statusText}`);
    }
    el.dataset.sent = kind;  // the broker took it; the badge changes when the command comes back
  } catch (e) {
    error.textContent = `Not sent: ${e.message}`;
    error.hidden = false;
  } finally {
    for (const b of el.querySelectorAll("button")) b.disabled = false;
  }
}

// --- the stream -----------------------------------------------------------------------

function setBroker(connected, streamUp) {
  const el = document.getElementById("broker");
  const state = !streamUp ? "down" : connected ? "connected" : "down";
  el.dataset.state = state;
  el.querySelector(".text").textContent = !streamUp ? "Dashboard unreachable, retrying…"
    : connected ? "Live" : "Broker unreachable, retrying…";
}

function applySnapshot(snapshot) {
  const seenDesks = new Set(snapshot.desks.map((d) => d.key));
  for (const [key, entry] of desks) if (!seenDesks.has(key)) { entry.element.remove(); desks.delete(key); }
  for (const view of snapshot.desks) renderDesk(view);
  const list = document.getElementById("alerts");
  list.replaceChildren();
  alerts.clear();
  for (const view of snapshot.alerts) renderAlert(view, false);
  document.getElementById("no-alerts").hidden = alerts.size > 0;
  document.getElementById("no-desks").hidden = desks.size > 0;
  setBroker(snapshot.broker.connected, true);
}

function removeDesk(removed) {
  // The dashboard stopped following this desk ([dashboard] max_desks): it goes, with its alerts.
  const entry = desks.get(removed.desk);
  if (entry) { entry.element.remove(); desks.delete(removed.desk); }
  for (const key of removed.alerts || []) {
    const alert = alerts.get(key);
    if (alert) { alert.element.remove(); alerts.delete(key); }
  }
  document.getElementById("no-desks").hidden = desks.size > 0;
  document.getElementById("no-alerts").hidden = alerts.size > 0;
}

function applyUpdate(update) {
  if (update.removed) removeDesk(update.removed);
  if (update.desk) renderDesk(update.desk);
  if (update.alert) renderAlert(update.alert, !alerts.has(update.alert.key));
  if (update.broker) setBroker(update.broker.connected, true);
}

function connect() {
  const source = new EventSource("/api/stream");
  source.addEventListener("snapshot", (e) => applySnapshot(JSON.parse(e.data)));
  source.addEventListener("update", (e) => applyUpdate(JSON.parse(e.data)));
  source.addEventListener("open", () => { document.body.dataset.stream = "open"; });
  source.addEventListener("error", () => {
    document.body.dataset.stream = "retrying";
    setBroker(false, false);
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
  });
}

setInterval(() => { for (const entry of desks.values()) renderGauges(entry); }, 250);
connect();
