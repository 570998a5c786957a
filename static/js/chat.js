// Chat's page side. Progressive enhancement: without this file the composer is a plain form
// (POST, then the page again) and "Load older" a link.
// With it: messages go over the live socket when it is open (else the same form by htmx), the
// list stays scrolled to the newest unless the reader scrolled up, typing is announced (at most
// every 2 s), the conversation is marked read while it is on screen, and a message that arrives
// twice (the htmx answer and the socket) is shown once.
(function () {
  "use strict";
  const section = document.querySelector("section.chat[data-conversation]");
  if (!section) {
    return;
  }
  const conversation = section.dataset.conversation;
  const scroller = document.getElementById("chat-scroll");
  const list = document.getElementById("messages-" + conversation);
  let socket = null; // the htmx ws extension's socket wrapper, while open
  let liveOk = false; // the server can reach Redis: what is sent over the socket is delivered
  let lastTyping = 0;
  let pendingBody = null;

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }
  function toBottom() {
    scroller.scrollTop = scroller.scrollHeight;
  }
  function sendJSON(data) {
    if (!socket) {
      return false;
    }
    socket.sendImmediately(JSON.stringify(data));
    return true;
  }
  function markRead() {
    if (document.visibilityState === "visible") {
      sendJSON({ type: "chat.read", conversation: conversation });
    }
  }
  // Keep one copy of each message, in time order (its cursor: "<microseconds>.<id hex>").
  function key(li) {
    const [micros, hex] = (li.dataset.cursor || "0.").split(".");
    return [BigInt(micros), hex];
  }
  function before(a, b) {
    const [ta, ia] = key(a);
    const [tb, ib] = key(b);
    return ta < tb || (ta === tb && ia < ib);
  }
  function tidy() {
    const seen = new Set();
    const items = [];
    list.querySelectorAll(":scope > li[id^='message-']").forEach((li) => {
      if (seen.has(li.id)) {
        li.remove();
      } else {
        seen.add(li.id);
        items.push(li);
      }
    });
    for (let i = 1; i < items.length; i++) {
      if (before(items[i], items[i - 1])) {
        items.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
        items.forEach((li) => list.appendChild(li));
        break;
      }
    }
    const empty = list.querySelector(":scope > li.empty");
    if (empty && seen.size) {
      empty.remove();
    }
  }
  // The newest message this tab is sure to have everything up to: the page as rendered, then
  // whatever came while live delivery worked. A message this tab POSTed during an outage does
  // not move it, or the others' messages sent before it would never be fetched.
  function newestCursor() {
    const items = list.querySelectorAll(":scope > li[data-cursor]");
    return items.length ? items[items.length - 1].dataset.cursor : section.dataset.since;
  }
  let synced = newestCursor();
  function markSynced() {
    if (liveOk && socket) {
      synced = newestCursor();
    }
  }
  // After the socket (re)opens or Redis is back: fetch what was sent meanwhile.
  function catchUp() {
    if (!window.htmx) {
      return;
    }
    const url = section.dataset.newerUrl + "?after=" + encodeURIComponent(synced);
    const stickNow = nearBottom();
    window.htmx.ajax("GET", url, { target: list, swap: "beforeend" }).then(() => {
      tidy();
      markSynced();
      if (stickNow) {
        toBottom();
      }
    });
  }

  toBottom();

  document.addEventListener("htmx:wsOpen", (event) => {
    socket = event.detail.socketWrapper;
    sendJSON({ type: "chat.subscribe", conversation: conversation });
    markRead();
  });
  document.addEventListener("htmx:wsClose", () => {
    socket = null;
    liveOk = false;
  });

  let stick = true;
  document.addEventListener("htmx:wsBeforeMessage", () => {
    stick = nearBottom();
  });
  document.addEventListener("htmx:wsAfterMessage", (event) => {
    const message = String(event.detail.message || "");
    if (message.indexOf('id="live-status"') !== -1) {
      // Sent when the socket opens, and when the server loses or reaches Redis again.
      liveOk = message.indexOf(" hidden") !== -1;
      if (liveOk) {
        catchUp();
      }
    }
    if (message.indexOf("messages-" + conversation) !== -1) {
      tidy();
      markSynced();
      if (stick) {
        toBottom();
      }
      markRead();
    }
    const error = document.getElementById("chat-error-" + conversation);
    if (error && error.dataset.unsent !== undefined && pendingBody !== null) {
      const box = section.querySelector("textarea[name=body]");
      if (box && !box.value) {
        box.value = error.dataset.unsent;
      }
      pendingBody = null;
    }
    const typing = document.getElementById("typing-" + conversation);
    if (typing && typing.textContent) {
      window.clearTimeout(Number(typing.dataset.timer || 0));
      typing.dataset.timer = String(window.setTimeout(() => { typing.textContent = ""; }, 5000));
    }
  });

  document.addEventListener("visibilitychange", markRead);

  // Send over the socket when it is open; otherwise let htmx POST the form.
  section.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("chat-form")) {
      return;
    }
    const box = form.querySelector("textarea[name=body]");
    const body = box.value.trim();
    if (!body || !socket || !liveOk) {
      // htmx (or the browser) POSTs it: the answer shows it even while nothing is live, and
      // the server explains an empty message.
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    pendingBody = body;
    sendJSON({ type: "chat.send", conversation: conversation, body: body });
    box.value = "";
    const error = document.getElementById("chat-error-" + conversation);
    if (error) {
      error.hidden = true;
    }
    stick = true;
  }, true);

  // Enter sends, Shift+Enter is a new line.
  section.addEventListener("keydown", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLTextAreaElement) || box.name !== "body") {
      return;
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      box.form.requestSubmit();
      return;
    }
    const now = Date.now();
    if (now - lastTyping > 2000 && event.key.length === 1) {
      lastTyping = now;
      sendJSON({ type: "chat.typing", conversation: conversation });
    }
  });

  // The htmx POST's answer: one copy of the message, at the bottom; an empty box.
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt;
    // The composer's "Attach" form too (templates/chat/_attach_form.html).
    const ours = form instanceof HTMLFormElement &&
      (form.classList.contains("chat-form") || form.classList.contains("chat-attach-form"));
    if (ours && event.detail.successful) {
      form.reset();
      tidy();
      toBottom();
    }
  });

  // "Load older" put older messages above: keep the reader where they were.
  let heightBefore = 0;
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target && event.detail.target.closest && event.detail.target.closest(".load-older")) {
      heightBefore = scroller.scrollHeight;
    }
  });
  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (heightBefore && event.detail.elt && scroller.contains(event.detail.elt)) {
      scroller.scrollTop += scroller.scrollHeight - heightBefore;
      heightBefore = 0;
      const first = scroller.querySelector("ol.older li");
      if (first) {
        first.setAttribute("tabindex", "-1");
      }
    }
  });
})();

// People suggestions (start form, add members): a button puts its name into the field.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest(".people-pick") : null;
  if (!button) {
    return;
  }
  const form = button.closest("form");
  const field = form && form.querySelector("input[name=members]");
  if (!field) {
    return;
  }
  const names = field.value.split(/[\s,]+/).filter(Boolean);
  if (names.length && !field.value.trim().endsWith(",")) {
    names.pop(); // the partly typed name is replaced by the chosen one
  }
  names.push(button.dataset.userName);
  field.value = names.join(", ") + ", ";
  field.focus();
  const box = document.getElementById("chat-people");
  if (box) {
    box.textContent = "";
  }
});

// The chat list (/chat): a conversation someone starts with you arrives over the socket as its
// row, on top (templates/chat/_live_joined.html). If the page already shows that row (it was
// rendered after the commit, before the message came), the old one makes way.
document.addEventListener("htmx:oobBeforeSwap", (event) => {
  const detail = event.detail;
  if (!detail.target || detail.target.id !== "conversation-list" || !detail.fragment) {
    return;
  }
  detail.fragment.querySelectorAll("li[id^='conv-']").forEach((row) => {
    const old = document.getElementById(row.id);
    if (old) {
      old.remove();
    }
  });
});
