// The service worker (served at /sw.js so that its scope is the whole site): shows each web
// push the server sends and opens its link when the notification is clicked.
"use strict";

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (_error) {
    data = { title: "Blog", body: event.data ? event.data.text() : "" };
  }
  const title = data.title || "Blog";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.body || "",
      tag: data.tag,
      data: { link: data.link || self.registration.scope },
      icon: new URL("static/favicon.svg", self.registration.scope).href,
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data.link, self.registration.scope);
  // Only links on this site: a payload never sends the reader elsewhere.
  const link = target.origin === self.location.origin ? target.href : self.registration.scope;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === link && "focus" in client) {
          return client.focus();
        }
      }
      return self.clients.openWindow(link);
    }),
  );
});
