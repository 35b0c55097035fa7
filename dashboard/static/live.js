// legwake live view: desks and alerts from /api/stream (server-sent events): a snapshot,
// then updates that add, change or remove a desk (one the dashboard stopped following).
// Everything shown is built with textContent: no message text is ever parsed as HTML.
// A new alert while the page is in the background is a browser notification with a chime,
// once turned on with the header's button (remembered in localStorage); its Acknowledge and
// Snooze buttons are answered by the service worker (/sw.js).
"use strict";

const LEAD_TIME_S = Number(document.querySelector("main.live").dataset.leadTimeS) || 180;
const GAUGE_SCALE_S = 900;          // an empty arc: 15 min or more until numb
const ARC = Math.PI * 50;           // the gauge's path length (radius 50)
const CONTACT_MMHG = 5, MAP_MAX_MMHG = 200;  // the report's fixed range
const NOTIFY_KEY = "legwake.notifications";  // localStorage: "on" once turned on, "off"
const SNOOZE_DEFAULT_MIN = Number(document.querySelector("main.live").dataset.snoozeMin) || 15;

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

// The pressure map's scale, x in 0..1 (5..200 mmHg): turbo's hues, but its low end a light
// blue instead of near-black, so the lightest touch reads as a touch on a light card and
// stands apart from the empty cells (--map-empty) on a dark one.
const PRESSURE_STOPS = [
  [0.00, [116, 192, 252]], [0.18, [34, 184, 207]], [0.36, [64, 192, 87]],
  [0.54, [250, 204, 21]], [0.72, [253, 126, 20]], [0.88, [224, 49, 49]], [1.00, [122, 4, 3]],
];

function pressureColour(x) {
  x = Math.min(1, Math.max(0, x));
  for (let i = 1; i < PRESSURE_STOPS.length; i++) {
    const [x1, c1] = PRESSURE_STOPS[i];
    if (x > x1) continue;
    const [x0, c0] = PRESSURE_STOPS[i - 1];
    const f = (x - x0) / (x1 - x0);
    return c0.map((v, k) => Math.round(v + f * (c1[k] - v)));
  }
  return PRESSURE_STOPS[PRESSURE_STOPS.length - 1][1];
}

function scaleGradient() {
  const stops = PRESSURE_STOPS.map(([x, c]) => `rgb(${c.join(",")}) ${Math.round(x * 100)}%`);
  return `linear-gradient(90deg, ${stops.join(", ")})`;
}

function cssColour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
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
    element.querySelector(".pause-send").addEventListener("click", () => {
      const minutes = element.querySelector(".pause-for").value;
      sendPause(entry, minutes ? { minutes: Number(minutes) } : { paused: true });
    });
    element.querySelector(".resume").addEventListener("click", () => sendPause(entry, { paused: false }));
    for (const button of element.querySelectorAll(".asleep")) {
      button.addEventListener("click", () => sendAsleep(entry, button.dataset.leg));
    }
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
  renderPause(el, view.pause);
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
    // A thigh unit's battery, as its link last read it (null in a replay, or not yet read).
    const battery = (state.battery_pct || {})[name];
    const charge = Number.isFinite(battery) ? ` ${battery} %` : "";
    li.textContent = (SENSORS[name] || name) + charge;
    li.title = `${SENSORS[name] || name}: ${health}` + (charge ? `, battery${charge}` : "");
    return li;
  }));
  drawSeat(el, state.seat);
  renderSensitivity(el, state.sensitivity);
  renderBreaks(el, state);
  renderGauges(entry);
}

function worstOfLeg(sites, leg) {
  let worst = null;
  for (const [site, value] of Object.entries(sites || {})) {
    if (!site.endsWith(`_${leg}`) || !value) continue;
    const ttn = value.time_to_numbness_s;
    const candidate = { site, ttn, pressure: value.pressure_mmhg, band: value.time_to_numbness_band_s };
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
      gauge.querySelector(".band").textContent = "";
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
    gauge.querySelector(".band").textContent = ttn <= 0 ? "" : bandText(worst.band, elapsed);
    caption.textContent = `${siteText(worst.site)}, ${Math.round(worst.pressure || 0)} mmHg`;
  }
  el.dataset.alarm = String(alarm);
}

function bandText(band, elapsed) {
  // How sure: "in 3 to 6 min", from the band's early and late edges (null: beyond the horizon).
  if (!Array.isArray(band) || band[0] == null) return "";
  const early = Math.max(0, Math.floor((band[0] - elapsed) / 60));
  if (band[1] == null) return `in ${early} min or more`;
  const late = Math.max(early, Math.ceil((band[1] - elapsed) / 60));
  return early === late ? `in about ${late} min` : `in ${early} to ${late} min`;
}

function drawSeat(el, seat) {
  const canvas = el.querySelector(".heatmap");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const load = el.querySelector(".seat-load");
  const grid = seat && seat.map_mmhg;
  if (!grid || !grid.length) {
    ctx.fillStyle = cssColour("--muted");
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
  const empty = cssColour("--map-empty");
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = grid[i][j];
      if (!(v >= CONTACT_MMHG)) { ctx.fillStyle = empty; }
      else {
        contact++;
        const [r, g, b] = pressureColour((v - CONTACT_MMHG) / (MAP_MAX_MMHG - CONTACT_MMHG));
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

// --- pausing nudges -------------------------------------------------------------------

function pausedUntil(pause) {
  // null: not paused; Infinity: until resumed; else the end (ms since the epoch).
  if (!pause || !pause.paused) return null;
  if (!pause.until) return Infinity;
  const end = Date.parse(pause.until);
  return Number.isNaN(end) ? Infinity : end > Date.now() ? end : null;
}

function renderPause(el, pause) {
  const box = el.querySelector(".pause");
  const until = pausedUntil(pause);
  const text = until === null ? "" : until === Infinity ? "Nudges paused"
    : `Nudges paused until ${localTime(new Date(until).toISOString())}`;
  box.dataset.paused = String(until !== null);
  const shown = box.querySelector(".pause-state");
  if (shown.textContent !== text) shown.textContent = text;
  box.querySelector(".pause-controls").hidden = until !== null;
  box.querySelector(".resume").hidden = until === null;
}

async function sendPause(entry, command) {
  await sendFrom(entry.element.querySelector(".pause"), "pause", { desk: entry.view.key, ...command },
    (box) => { box.dataset.sent = command.paused === false ? "resume" : "pause"; });  // shown when the agent says so
}

async function sendFrom(box, kind, body, onSent) {
  // A card's command: its buttons off while it goes, and why it was not sent if it was not.
  const error = box.querySelector(`.${box.classList[0]}-error`);
  error.hidden = true;
  for (const b of box.querySelectorAll("button")) b.disabled = true;
  try {
    await post(kind, body);
    onSent(box);
  } catch (e) {
    error.textContent = `Not sent: ${e.message}`;
    error.hidden = false;
  } finally {
    for (const b of box.querySelectorAll("button")) b.disabled = false;
  }
}

function renderSensitivity(el, sensitivity) {
  // Learned from the person's feedback: its centre, and its band once a report taught it.
  const shown = el.querySelector(".sensitivity");
  let text = "";
  if (sensitivity && Number.isFinite(sensitivity.k)) {
    text = `Sensitivity ${sensitivity.k.toFixed(2)}`;
    text += sensitivity.reports
      ? ` (${sensitivity.low.toFixed(2)} to ${sensitivity.high.toFixed(2)}, from ${sensitivity.reports} report${sensitivity.reports === 1 ? "" : "s"})`
      : " (nothing reported yet)";
  }
  if (shown.textContent !== text) shown.textContent = text;
}

async function sendAsleep(entry, leg) {
  await sendFrom(entry.element.querySelector(".feedback"), "feedback",
    { desk: entry.view.key, leg, numb: true }, (box) => {
      box.querySelector(".feedback-sent").textContent = `Noted: your ${leg} leg fell asleep. Move it gently; stand once feeling is back.`;
      box.dataset.sent = leg;
    });
}

// --- alerts ---------------------------------------------------------------------------

function renderAlert(view, fresh) {
  let entry = alerts.get(view.key);
  const before = entry ? entry.view.status : null;
  if (!entry) {
    const element = document.getElementById("alert-template").content.firstElementChild.cloneNode(true);
    element.dataset.alert = view.key;
    element.dataset.kind = view.kind;
    element.querySelector(".ack").addEventListener("click", () => send("ack", entry));
    element.querySelector(".snooze").addEventListener("click", () => send("snooze", entry));
    element.querySelector(".false-alarm").addEventListener("click", () => send("feedback", entry));
    element.querySelector(".false-alarm").hidden = view.kind !== "numbness";
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
  el.querySelector(".alert-status").textContent = alertStatusText(entry);
  document.getElementById("no-alerts").hidden = alerts.size > 0;
  if (fresh && view.status === "open") notifyAlert(view);
  else if (before === "open" && view.status !== "open") closeNotification(view.key);
}

function alertStatusText(entry) {
  const view = entry.view;
  let text = ALERT_STATUS[view.status] || view.status;
  if (entry.falseAlarm) text += " · false alarm sent";
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
  if (kind === "feedback") body.numb = false;  // "false alarm, I was fine" of this alert
  for (const b of el.querySelectorAll("button")) b.disabled = true;
  try {
    await post(kind, body);
    el.dataset.sent = kind;  // the broker took it; the badge changes when the command comes back
    if (kind === "feedback") {
      entry.falseAlarm = true;
      el.querySelector(".false-alarm").hidden = true;
      el.querySelector(".alert-status").textContent = alertStatusText(entry);
    }
  } catch (e) {
    error.textContent = `Not sent: ${e.message}`;
    error.hidden = false;
  } finally {
    for (const b of el.querySelectorAll("button")) b.disabled = false;
  }
}

async function post(kind, body) {
  const response = await fetch(`/api/${kind}`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body), credentials: "same-origin",
  });
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    throw new Error(answer.error || `${response.status} ${response.statusText}`);
  }
  return response.json();
}

// --- notifications --------------------------------------------------------------------

const notifications = {
  worker: null,  // a promise of the service worker's registration, where there is one
  audio: null,   // the AudioContext of the chime, made on a click (autoplay rules)
};

function notificationsOn() {
  return "Notification" in window && Notification.permission === "granted"
    && localStorage.getItem(NOTIFY_KEY) === "on";
}

function renderNotifyButton() {
  const button = document.getElementById("notify");
  if (!("Notification" in window)) { button.hidden = true; return; }
  button.hidden = false;
  const blocked = Notification.permission === "denied";
  const on = notificationsOn();
  button.dataset.state = blocked ? "blocked" : on ? "on" : "off";
  button.setAttribute("aria-pressed", String(on));
  button.disabled = blocked;
  button.textContent = blocked ? "Notifications blocked" : on ? "Notifications on" : "Notify me";
  button.title = blocked ? "Notifications are blocked for this site in the browser's settings"
    : on ? "New alerts notify you with a chime while this page is in the background; click to stop"
      : "Notify me with a chime of new alerts while this page is in the background";
}

async function toggleNotifications() {
  if (notificationsOn()) {
    localStorage.setItem(NOTIFY_KEY, "off");
  } else {
    unlockAudio();
    const permission = await Notification.requestPermission();
    localStorage.setItem(NOTIFY_KEY, permission === "granted" ? "on" : "off");
    if (permission === "granted") chime();
  }
  renderNotifyButton();
}

function unlockAudio() {
  // An AudioContext made or resumed during a click may play later, in the background.
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return null;
  if (!notifications.audio) notifications.audio = new Context();
  if (notifications.audio.state === "suspended") notifications.audio.resume().catch(() => {});
  return notifications.audio;
}

function chime() {
  // Two soft sine tones, a fifth apart, 0.6 s in all: made here, no sound file.
  const audio = notifications.audio || unlockAudio();
  if (!audio) return;
  const start = audio.currentTime + 0.02;
  for (const [offset, hz] of [[0, 880], [0.16, 1318.5]]) {
    const tone = audio.createOscillator(), level = audio.createGain();
    tone.type = "sine";
    tone.frequency.value = hz;
    level.gain.setValueAtTime(0.0001, start + offset);
    level.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
    level.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.45);
    tone.connect(level).connect(audio.destination);
    tone.start(start + offset);
    tone.stop(start + offset + 0.5);
  }
}

async function notifyAlert(view) {
  if (!document.hidden || !notificationsOn()) return;
  const title = `${view.kind === "break" ? "Break" : "Numbness"} · ${view.desk.split("/")[1]}`;
  const options = {
    body: view.message || "", tag: view.key, icon: "/static/icon-192.png",
    data: { desk: view.desk, id: view.id, key: view.key, snooze_minutes: SNOOZE_DEFAULT_MIN },
  };
  const registration = notifications.worker && await notifications.worker.catch(() => null);
  if (registration) {
    await registration.showNotification(title, {
      ...options, requireInteraction: true,
      actions: [{ action: "ack", title: "Acknowledge" },
                { action: "snooze", title: `Snooze ${SNOOZE_DEFAULT_MIN} min` }],
    });
  } else {
    const shown = new Notification(title, options);
    shown.onclick = () => { window.focus(); shown.close(); };
  }
  chime();
}

async function closeNotification(key) {
  // Answered elsewhere (this page, a phone, the desk): its notification has had its day.
  const registration = notifications.worker && await notifications.worker.catch(() => null);
  if (!registration) return;
  for (const shown of await registration.getNotifications({ tag: key })) shown.close();
}

function setUpNotifications() {
  if ("serviceWorker" in navigator && window.isSecureContext) {
    notifications.worker = navigator.serviceWorker.register("/sw.js", { scope: "/" })
      .then(() => navigator.serviceWorker.ready);
    notifications.worker.catch((e) => console.warn("no service worker:", e));
  }
  if (!("Notification" in window)) return;
  document.getElementById("notify").addEventListener("click", toggleNotifications);
  if (localStorage.getItem(NOTIFY_KEY) === "on") {
    // Sound needs a click on the page first in most browsers: the next one does.
    document.addEventListener("pointerdown", unlockAudio, { once: true });
  }
  renderNotifyButton();
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

setInterval(() => {
  for (const entry of desks.values()) {
    renderGauges(entry);
    renderPause(entry.element, entry.view.pause);  // a pause that ran out ends here too
  }
}, 250);
// The map's empty cells follow the page's light or dark colours.
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  for (const entry of desks.values()) if (entry.view.state) drawSeat(entry.element, entry.view.state.seat);
});
setUpNotifications();
connect();
