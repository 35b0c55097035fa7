// legwake service worker: shows the live page's alert notifications and answers their
// Acknowledge and Snooze buttons by POSTing to /api/ack and /api/snooze, as the page's own
// buttons do (same origin, with the page's session cookie), then brings the page forward.
// It caches nothing: the dashboard is only useful live.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(answer(event.action, event.notification.data || {}));
});

// What a click on the notification does: "ack" or "snooze" sends that command for the
// alert in `alert` ({desk, id, snooze_minutes}); any other (the notification itself) only
// opens the page. Resolves to {sent, status, error}; a failed command shows why.
async function answer(action, alert) {
  let result = { sent: null, status: null, error: null };
  if (action === "ack" || action === "snooze") {
    result = await send(action, alert);
    if (result.error) {
      await self.registration.showNotification("Not sent", {
        body: `${action === "ack" ? "Acknowledge" : "Snooze"}: ${result.error}`,
        tag: `legwake-error-${alert.desk}`,
      });
    }
  }
  await showPage();
  return result;
}

async function send(kind, alert) {
  const body = { desk: alert.desk, id: alert.id };
  if (kind === "snooze") body.minutes = alert.snooze_minutes;
  try {
    const response = await fetch(`/api/${kind}`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), credentials: "same-origin",
    });
    if (response.ok) return { sent: kind, status: response.status, error: null };
    const problem = await response.json().catch(() => ({}));
    return { sent: null, status: response.status,
             error: problem.error || `${response.status} ${response.statusText}` };
  } catch (e) {
    return { sent: null, status: null, error: `the dashboard is unreachable (${e.message})` };
  }
}

async function showPage() {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const live = windows.find((w) => new URL(w.url).pathname === "/") || windows[0];
  try {  // only allowed right after a click on the notification
    if (live) await live.focus();
    else await self.clients.openWindow("/");
  } catch (e) {
    // Not from a click: the command is sent, the page stays where it is.
  }
}
