// Inline replies (templates/comments/_reply_form.html). Without this file the Reply link opens
// the reply page and Cancel goes back to the post; with it, htmx opens the form under the
// comment (its textarea has autofocus), and Escape or Cancel closes it, focus back on Reply.
(() => {
  const close = (form) => {
    const id = form.getAttribute("data-reply-form");
    const slot = form.parentElement;
    if (slot) {
      slot.replaceChildren();
    }
    const button = document.querySelector(`[data-reply-button="${id}"]`);
    if (button) {
      button.focus();
    }
  };

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) {
      return;
    }
    const form = event.target.closest && event.target.closest("[data-reply-form]");
    if (form) {
      event.preventDefault();
      close(form);
    }
  });

  document.addEventListener("click", (event) => {
    const cancel = event.target.closest && event.target.closest("[data-reply-cancel]");
    const form = cancel && cancel.closest("[data-reply-form]");
    if (form) {
      event.preventDefault();
      close(form);
    }
  });

  // htmx focuses [autofocus] in swapped content; make sure of it for the reply form.
  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail && event.detail.target;
    const area = target && target.querySelector && target.querySelector("[data-reply-form] textarea");
    if (area) {
      area.focus();
    }
  });
})();
