// The post editor's background work (templates/posts/editor.html). Progressive enhancement
// only: without this file "Save draft", "Update post" and "Insert an image" work as forms.
//
// - Autosave (drafts, and a new post, whose first save creates its draft): 1.5 s after the
//   last keystroke, and at least every 5 s while the text keeps changing. Each save sends the
//   version it started from; the server refuses a stale one (409: another tab saved since),
//   and this tab then stops and offers the newer text instead of overwriting it.
// - A published or archived post is never saved in the background (its edits would go public
//   unasked): the status says there are unsaved changes until "Update post".
// - Images pasted or dropped into the text go through the upload pipeline
//   (/uploads/image: the same checks and re-encoding), with a <progress> in the status area,
//   and their Markdown goes in at the cursor with the alt text selected for editing.
(() => {
  "use strict";

  const DEBOUNCE_MS = 1500;
  const MAX_WAIT_MS = 5000;
  const RETRY_MS = 5000;
  const FIELDS = new Set(["title", "content", "tags"]);

  const form = () => document.getElementById("post-form");
  const statusEl = () => document.getElementById("autosave-status");
  const versionInput = () => {
    const f = form();
    return f ? f.querySelector('input[name="version"]') : null;
  };

  let timer = null;
  let dirtySince = 0; // when the first unsaved change was made (0: nothing unsaved)
  let inflight = null; // the promise of the save under way
  let stopped = false; // after a conflict: no more saves until the author chooses
  let publicDirty = false;

  const clock = (root) => {
    // The server writes HH:MM in UTC; the reader's own clock reads better.
    root.querySelectorAll("time[data-clock][datetime]").forEach((el) => {
      const d = new Date(el.getAttribute("datetime"));
      if (!Number.isNaN(d.getTime())) {
        el.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      }
    });
  };

  const say = (html) => {
    const el = statusEl();
    if (!el) {
      return;
    }
    // Our own server-rendered, escaped fragment. Only a change is written: a live region
    // announces every change, and "Saved 12:03" once a minute is enough.
    const probe = document.createElement("p");
    probe.innerHTML = html;
    clock(probe);
    if (probe.innerHTML !== el.innerHTML) {
      el.innerHTML = probe.innerHTML;
    }
  };

  const sayText = (text) => {
    const el = statusEl();
    if (el && el.textContent !== text) {
      el.textContent = text;
    }
  };

  const longEnough = (f) => {
    const title = f.querySelector('[name="title"]');
    const content = f.querySelector('[name="content"]');
    return (
      title && content &&
      title.value.trim().length >= Number(f.dataset.titleMin || 5) &&
      content.value.trim().length >= Number(f.dataset.contentMin || 10)
    );
  };

  const schedule = (delay) => {
    window.clearTimeout(timer);
    timer = null;
    if (stopped || !dirtySince) {
      return;
    }
    const untilMax = dirtySince + MAX_WAIT_MS - Date.now();
    const wait = delay !== undefined ? delay : Math.max(0, Math.min(DEBOUNCE_MS, untilMax));
    timer = window.setTimeout(save, wait);
  };

  // A new post's first save made its draft: from now on this page edits that draft.
  const becomeDraft = (f, response) => {
    const editUrl = response.headers.get("Blog-Edit-Url");
    const autosaveUrl = response.headers.get("Blog-Autosave-Url");
    const previewUrl = response.headers.get("Blog-Preview-Url");
    if (!editUrl || !autosaveUrl) {
      return;
    }
    window.history.replaceState(window.history.state, "", editUrl);
    f.action = editUrl;
    f.setAttribute("hx-post", editUrl);
    f.dataset.autosaveUrl = autosaveUrl;
    const content = f.querySelector('[name="content"]');
    if (content && previewUrl) {
      content.setAttribute("hx-post", previewUrl);
    }
    if (window.htmx) {
      window.htmx.process(f);
    }
  };

  const save = () => {
    timer = null;
    const f = form();
    if (!f || stopped || !dirtySince || !f.dataset.autosaveUrl) {
      return Promise.resolve();
    }
    if (inflight) {
      return inflight; // its finally() looks again
    }
    if (!longEnough(f)) {
      sayText("Not saved yet: a draft needs a title (5 characters or more) and some text.");
      return Promise.resolve();
    }
    dirtySince = 0;
    const body = new FormData(f);
    inflight = fetch(f.dataset.autosaveUrl, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    })
      .then((response) =>
        response.text().then((html) => {
          const version = response.headers.get("Blog-Post-Version");
          if (response.ok) {
            const input = versionInput();
            if (input && version) {
              input.value = version;
            }
            if (response.status === 201) {
              becomeDraft(f, response);
            }
            say(html);
          } else if (response.status === 409) {
            stopped = true;
            say(html);
          } else if (response.status === 422) {
            say(html);
          } else if (response.status === 429) {
            const after = Number(response.headers.get("Retry-After") || 30);
            sayText("Not saved: too many saves in a short time. Trying again shortly.");
            dirtySince = dirtySince || Date.now();
            schedule(Math.min(after, 120) * 1000);
          } else if (response.status === 404 || response.status === 403) {
            stopped = true;
            sayText("Not saved: this post cannot be changed here any more. Reload the page.");
          } else {
            throw new Error(String(response.status));
          }
        })
      )
      .catch(() => {
        sayText("Not saved: the site did not answer. Trying again…");
        dirtySince = dirtySince || Date.now();
        schedule(RETRY_MS);
      })
      .finally(() => {
        inflight = null;
        if (dirtySince && !timer) {
          schedule();
        }
      });
    return inflight;
  };

  const changed = (f) => {
    if (f.hasAttribute("data-autosave-public")) {
      if (!publicDirty) {
        publicDirty = true;
        sayText("Unsaved changes: they go live when you press “Update post”.");
      }
      return;
    }
    if (!f.dataset.autosaveUrl || stopped) {
      return;
    }
    dirtySince = dirtySince || Date.now();
    schedule();
  };

  document.addEventListener("input", (event) => {
    const target = event.target;
    if (!(target instanceof Element) || !FIELDS.has(target.getAttribute("name") || "")) {
      return;
    }
    const f = target.closest("form");
    if (f && f.id === "post-form") {
      changed(f);
    }
  });

  // "Keep my text instead" after a conflict: an explicit choice to replace the newer text.
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element && event.target.closest("[data-autosave-keep]");
    if (!button) {
      return;
    }
    const input = versionInput();
    if (input) {
      input.value = button.getAttribute("data-autosave-keep");
    }
    stopped = false;
    dirtySince = Date.now();
    save();
  });

  // The editor's own buttons: wait for a save under way (it moves the version on), and drop
  // the pending one (the form carries the same text).
  document.addEventListener("htmx:confirm", (event) => {
    const elt = event.detail && event.detail.elt;
    if (!(elt instanceof Element) || elt.id !== "post-form") {
      return;
    }
    window.clearTimeout(timer);
    timer = null;
    dirtySince = 0;
    publicDirty = false;
    if (inflight) {
      event.preventDefault();
      const path = event.detail.path;
      const trigger = event.detail.triggeringEvent;
      const button = trigger && trigger.submitter;
      inflight.finally(() => {
        const now = elt.getAttribute("hx-post");
        if (now === path || !window.htmx) {
          event.detail.issueRequest(true);
          return;
        }
        // The save under way made this new post's draft: send the form to the draft's
        // editor, not to /write (which would make a second post).
        const values = button && button.name ? { [button.name]: button.value } : {};
        window.htmx.ajax("POST", now, { source: elt, target: elt, swap: "outerHTML", values });
      });
    }
  });
  document.addEventListener("submit", (event) => {
    if (event.target instanceof Element && event.target.id === "post-form") {
      publicDirty = false;
    }
  });

  // Closing the tab with a change not yet sent: send it on the way out (the form carries its
  // CSRF token, so a beacon needs no header). A public post's edits are never sent; ask.
  window.addEventListener("pagehide", () => {
    const f = form();
    if (f && dirtySince && !stopped && !inflight && f.dataset.autosaveUrl && longEnough(f)) {
      navigator.sendBeacon(f.dataset.autosaveUrl, new FormData(f));
    }
  });
  window.addEventListener("beforeunload", (event) => {
    if (publicDirty) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  const init = () => {
    const f = form();
    if (!f) {
      return;
    }
    const hint = document.getElementById("paste-hint");
    if (hint) {
      hint.hidden = false; // only true with this file
    }
    if (f.hasAttribute("data-autosave-public")) {
      sayText("Changes go live when you press “Update post”.");
    } else if (f.dataset.autosaveUrl) {
      sayText("Your draft is saved as you type.");
    }
  };

  // ------------------------------------------------------------------ images in the text

  const imageStatus = () => document.getElementById("image-status");

  const showProgress = (percent, text) => {
    const box = imageStatus();
    if (!box) {
      return;
    }
    box.hidden = false;
    const bar = box.querySelector("progress");
    if (bar) {
      bar.hidden = percent === null;
      if (percent !== null) {
        bar.value = percent;
        bar.setAttribute("aria-valuetext", `${percent}% uploaded`);
      }
    }
    const label = box.querySelector("#image-status-text");
    if (label) {
      label.textContent = text;
    }
  };

  const altFrom = (name) =>
    (name || "image").replace(/\.[A-Za-z0-9]+$/, "").replace(/[[\]\n\r]+/g, " ").trim() || "image";

  const insertAt = (textarea, at, markdown, alt) => {
    const before = textarea.value.slice(0, at);
    const after = textarea.value.slice(at);
    const lead = before && !before.endsWith("\n") ? "\n" : "";
    const text = `${lead}${markdown}\n`;
    textarea.value = before + text + after;
    textarea.focus();
    // The alt text, selected: typing replaces it with a better description.
    const altStart = before.length + lead.length + 2;
    const altInMarkdown = markdown.slice(2, markdown.indexOf("]("));
    textarea.setSelectionRange(altStart, altStart + (altInMarkdown || alt).length);
    textarea.dispatchEvent(new Event("input", { bubbles: true })); // preview and autosave
  };

  const upload = (textarea, file) => {
    const f = form();
    if (!f || !f.dataset.imageUrl) {
      return;
    }
    const limitForm = document.getElementById("editor-image-form");
    const limit = limitForm ? Number(limitForm.dataset.maxBytes || 0) : 0;
    if (limit && file.size > limit) {
      showProgress(null, limitForm.dataset.tooLarge || "The file is too large.");
      return;
    }
    const at = textarea.selectionStart ?? textarea.value.length;
    const alt = altFrom(file.name);
    const body = new FormData();
    const token = f.querySelector('input[name="csrf_token"]');
    body.append("csrf_token", token ? token.value : "");
    body.append("file", file, file.name || "image");
    body.append("alt", alt);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", f.dataset.imageUrl);
    xhr.setRequestHeader("HX-Request", "true"); // the answer carries the Markdown (HX-Trigger)
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) {
        const percent = Math.round((event.loaded / event.total) * 100);
        showProgress(percent, `Uploading ${file.name || "the image"}: ${percent}%`);
      }
    });
    xhr.addEventListener("load", () => {
      let markdown = "";
      try {
        const trigger = JSON.parse(xhr.getResponseHeader("HX-Trigger") || "{}");
        markdown = (trigger["blog:image-uploaded"] || {}).markdown || "";
      } catch {
        markdown = "";
      }
      if (xhr.status === 200 && markdown) {
        showProgress(100, "Image added. Its description is selected in the text: type a better one.");
        insertAt(textarea, Math.min(at, textarea.value.length), markdown, alt);
        return;
      }
      const answer = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      const message = (answer.body.textContent || "").trim();
      showProgress(null, message || `The image was not uploaded (${xhr.status}).`);
    });
    xhr.addEventListener("error", () => {
      showProgress(null, "The upload did not get through. Check the file's size and try again.");
    });
    showProgress(0, `Uploading ${file.name || "the image"}: 0%`);
    xhr.send(body);
  };

  const imageFiles = (list) =>
    Array.from(list || []).filter((file) => file.type && file.type.startsWith("image/"));

  document.addEventListener("paste", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLTextAreaElement) || target.id !== "content") {
      return;
    }
    const files = imageFiles(event.clipboardData && event.clipboardData.files);
    if (files.length) {
      event.preventDefault();
      files.forEach((file) => upload(target, file));
    }
  });
  document.addEventListener("dragover", (event) => {
    if (event.target instanceof HTMLTextAreaElement && event.target.id === "content" &&
        event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  });
  document.addEventListener("drop", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLTextAreaElement) || target.id !== "content") {
      return;
    }
    const files = imageFiles(event.dataTransfer && event.dataTransfer.files);
    if (files.length) {
      event.preventDefault();
      files.forEach((file) => upload(target, file));
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
