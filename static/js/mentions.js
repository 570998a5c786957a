// @mention suggestions in the comment and reply boxes, the post editor and the chat composer.
// Typing "@" and a letter or two asks /people/suggest for a listbox of people (avatar, name,
// @user_name); ArrowDown/ArrowUp move through it (aria-activedescendant on the text field, so
// focus stays where the typing is), Enter or Tab picks, Escape closes; picking inserts
// "@user_name ". Without this file, people type the name: the mention works the same.
(() => {
  const FIELDS = [
    "textarea[data-mentions]",
    "#comment-form textarea[name=content]",
    "#post-form textarea[name=content]",
    ".chat-form textarea[name=body]",
  ].join(",");
  const TOKEN = /(^|[^\w@/])@([\w][\w.-]{0,99})$/;
  // base.html gives the script the endpoint's URL (the site may be mounted under a path).
  const script = document.currentScript;
  const ENDPOINT = (script && script.dataset.suggestUrl) || "/people/suggest";
  let timer = null;
  let asked = 0;

  const listOf = (field) => document.getElementById(`${field.id}-mentions`);
  const options = (list) => Array.from(list ? list.querySelectorAll("[role=option]") : []);
  const isOpen = (field) => {
    const list = listOf(field);
    return Boolean(list && !list.hidden && options(list).length);
  };

  const close = (field) => {
    const list = listOf(field);
    if (list) {
      list.remove();
    }
    field.removeAttribute("aria-activedescendant");
    field.removeAttribute("aria-controls");
  };

  const typed = (field) => {
    const before = field.value.slice(0, field.selectionStart);
    const match = TOKEN.exec(before);
    return match ? match[2] : null;
  };

  const select = (field, index) => {
    const all = options(listOf(field));
    if (!all.length) {
      return;
    }
    const next = (index + all.length) % all.length;
    all.forEach((option, i) => option.setAttribute("aria-selected", i === next ? "true" : "false"));
    field.setAttribute("aria-activedescendant", all[next].id);
    all[next].scrollIntoView({ block: "nearest" });
  };

  const current = (field) => options(listOf(field)).findIndex((o) => o.getAttribute("aria-selected") === "true");

  const pick = (field, option) => {
    const name = option.dataset.userName;
    const caret = field.selectionStart;
    const before = field.value.slice(0, caret).replace(TOKEN, (_all, lead) => `${lead}@${name} `);
    field.value = before + field.value.slice(caret);
    field.setSelectionRange(before.length, before.length);
    close(field);
    field.focus();
    // The editor's preview and other listeners follow the new text.
    field.dispatchEvent(new Event("input", { bubbles: true }));
  };

  const ask = async (field, prefix) => {
    const ticket = ++asked;
    const url = `${ENDPOINT}?q=${encodeURIComponent(prefix)}&for=${encodeURIComponent(field.id)}`;
    let html;
    try {
      const response = await fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
      if (!response.ok) {
        return;
      }
      html = await response.text();
    } catch (_error) {
      return;
    }
    if (ticket !== asked || typed(field) !== prefix) {
      return; // a newer keystroke asked again
    }
    close(field);
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const list = holder.firstElementChild;
    if (!list || !options(list).length) {
      return;
    }
    field.after(list);
    field.setAttribute("aria-controls", list.id);
    field.setAttribute("aria-autocomplete", "list");
    select(field, 0);
  };

  document.addEventListener("input", (event) => {
    const field = event.target;
    if (!(field instanceof HTMLTextAreaElement) || !field.matches(FIELDS) || !field.id) {
      return;
    }
    const prefix = typed(field);
    clearTimeout(timer);
    if (prefix === null || prefix.length < 1) {
      close(field);
      return;
    }
    timer = setTimeout(() => ask(field, prefix), 150);
  });

  // Capture phase: ahead of chat.js's Enter-sends and the reply form's Escape-closes.
  document.addEventListener(
    "keydown",
    (event) => {
      const field = event.target;
      if (!(field instanceof HTMLTextAreaElement) || !field.matches(FIELDS) || !isOpen(field)) {
        return;
      }
      const all = options(listOf(field));
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        select(field, current(field) + (event.key === "ArrowDown" ? 1 : -1));
      } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && current(field) >= 0) {
        pick(field, all[current(field)]);
      } else if (event.key === "Escape") {
        close(field);
      } else {
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation();
    },
    true,
  );

  document.addEventListener("mousedown", (event) => {
    const option = event.target.closest && event.target.closest(".mention-list [role=option]");
    if (!option) {
      return;
    }
    event.preventDefault(); // keep focus in the field
    const field = option.closest(".mention-list").previousElementSibling;
    if (field instanceof HTMLTextAreaElement) {
      pick(field, option);
    }
  });

  document.addEventListener("focusout", (event) => {
    const field = event.target;
    if (field instanceof HTMLTextAreaElement && field.matches(FIELDS)) {
      setTimeout(() => {
        if (document.activeElement !== field) {
          close(field);
        }
      }, 150);
    }
  });
})();
