// Web push on the notification settings page: register the service worker, subscribe this
// browser with the site's VAPID public key, and tell the server (a JSON POST carrying the
// CSRF token). Progressive enhancement: without JavaScript or the Push API the page says so.
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (_error) {
      return "";
    }
  }

  function keyBytes(base64url) {
    const base64 = (base64url + "===".slice((base64url.length + 3) % 4))
      .replace(/-/g, "+")
      .replace(/_/g, "/");
    const raw = window.atob(base64);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    let answer = {};
    try {
      answer = await response.json();
    } catch (_error) {
      answer = {};
    }
    if (!response.ok) {
      throw new Error(answer.error || "The server refused (" + response.status + ").");
    }
    return answer;
  }

  function init() {
    const controls = document.getElementById("push-controls");
    if (!controls) {
      return;
    }
    const status = document.getElementById("push-status");
    const on = document.getElementById("push-subscribe");
    const off = document.getElementById("push-unsubscribe");
    const say = (text) => {
      status.textContent = text;
    };
    const show = (subscribed) => {
      on.hidden = subscribed;
      off.hidden = !subscribed;
    };
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !window.isSecureContext) {
      say("This browser cannot receive push notifications from this site.");
      return;
    }
    const registration = navigator.serviceWorker.register(controls.dataset.workerUrl, {
      scope: controls.dataset.scope,
    });

    async function current() {
      const reg = await registration;
      return reg.pushManager.getSubscription();
    }

    current()
      .then((subscription) => {
        show(Boolean(subscription));
        say(subscription ? "Push is on in this browser." : "Push is off in this browser.");
        if (subscription) {
          // Keep the server's copy current (keys can rotate; a new account may sign in here).
          post(controls.dataset.subscribeUrl, subscription.toJSON()).catch(() => {});
        }
      })
      .catch((error) => say("Push is unavailable: " + error.message));

    on.addEventListener("click", async () => {
      on.disabled = true;
      try {
        const permission = await Notification.requestPermission();
        if (permission !== "granted") {
          say("Notifications are blocked for this site in your browser's settings.");
          return;
        }
        const reg = await registration;
        const subscription = await reg.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(controls.dataset.vapidKey),
        });
        await post(controls.dataset.subscribeUrl, subscription.toJSON());
        show(true);
        say("Push is on in this browser.");
      } catch (error) {
        say("Push could not be turned on: " + error.message);
      } finally {
        on.disabled = false;
      }
    });

    off.addEventListener("click", async () => {
      off.disabled = true;
      try {
        const subscription = await current();
        if (subscription) {
          await post(controls.dataset.unsubscribeUrl, { endpoint: subscription.endpoint });
          await subscription.unsubscribe();
        }
        show(false);
        say("Push is off in this browser.");
      } catch (error) {
        say("Push could not be turned off: " + error.message);
      } finally {
        off.disabled = false;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
