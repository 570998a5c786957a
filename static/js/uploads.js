// Upload forms (templates/uploads/_macros.html): a progress bar fed by htmx's upload progress
// events, a size check before a byte is sent, and "insert at the cursor" for post images.
// Progressive enhancement only: without this file every form still posts and works.
(() => {
  if (window.blogUploads) {
    return; // included by more than one fragment on a page
  }
  window.blogUploads = true;

  const formOf = (event) => {
    const elt = event.detail && event.detail.elt ? event.detail.elt : event.target;
    return elt instanceof Element ? elt.closest("form.upload-form") : null;
  };
  const setProgress = (form, percent) => {
    const bar = form.querySelector("progress.upload-progress");
    if (!bar) {
      return;
    }
    bar.hidden = false;
    bar.value = percent;
    bar.setAttribute("value", String(percent));
    bar.setAttribute("aria-valuetext", `${percent}% uploaded`);
  };

  // Refuse a file over the limit here, before it is sent: the server would refuse it too
  // (413) but only after the browser had started sending megabytes.
  document.addEventListener("htmx:confirm", (event) => {
    const form = formOf(event);
    if (!form) {
      return;
    }
    const input = form.querySelector('input[type="file"]');
    const limit = Number(form.dataset.maxBytes || 0);
    const file = input && input.files && input.files[0];
    if (file && limit && file.size > limit) {
      event.preventDefault();
      const result = form.querySelector(".upload-result");
      if (result) {
        const p = document.createElement("p");
        p.className = "form-error";
        p.setAttribute("role", "alert");
        p.textContent = form.dataset.tooLarge || "The file is too large.";
        result.replaceChildren(p);
      }
    }
  });

  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = formOf(event);
    if (form) {
      setProgress(form, 0);
      const button = form.querySelector('button[type="submit"]');
      if (button) {
        button.setAttribute("aria-busy", "true");
      }
    }
  });

  document.addEventListener("htmx:xhr:progress", (event) => {
    const form = formOf(event);
    if (form && event.detail.lengthComputable && event.detail.total > 0) {
      setProgress(form, Math.round((event.detail.loaded / event.detail.total) * 100));
    }
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    const form = formOf(event);
    if (!form) {
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    if (button) {
      button.removeAttribute("aria-busy");
    }
    if (event.detail.successful) {
      setProgress(form, 100);
      form.querySelectorAll('input[type="file"], input[name="alt"]').forEach((input) => {
        input.value = "";
      });
    } else if (!event.detail.xhr || !event.detail.xhr.status) {
      const result = form.querySelector(".upload-result");
      if (result) {
        const p = document.createElement("p");
        p.className = "form-error";
        p.setAttribute("role", "alert");
        p.textContent = "The upload did not get through. Check the file's size and try again.";
        result.replaceChildren(p);
      }
    }
  });

  // The server's HX-Trigger after a post image: put its Markdown where the cursor was.
  document.body.addEventListener("blog:image-uploaded", (event) => {
    const detail = event.detail || {};
    const textarea = document.getElementById(detail.field || "content");
    if (!(textarea instanceof HTMLTextAreaElement) || !detail.markdown) {
      return;
    }
    const start = textarea.selectionStart ?? textarea.value.length;
    const end = textarea.selectionEnd ?? start;
    const before = textarea.value.slice(0, start);
    const after = textarea.value.slice(end);
    const lead = before && !before.endsWith("\n") ? "\n" : "";
    const text = `${lead}${detail.markdown}\n`;
    textarea.value = before + text + after;
    const caret = start + text.length;
    textarea.setSelectionRange(caret, caret);
    textarea.focus();
    // The live preview listens for input.
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
