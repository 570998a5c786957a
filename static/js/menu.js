// The header's disclosure menus (Main on phones, Account everywhere). Progressive enhancement:
// each toggle is a link to /menu that works without this file; here it opens its panel in
// place. Escape closes and returns focus to the toggle; a click or focus outside closes.
(() => {
  const toggles = () => document.querySelectorAll("[data-menu-toggle]");
  const panelOf = (toggle) => document.getElementById(toggle.getAttribute("aria-controls"));

  const setOpen = (toggle, open) => {
    const panel = panelOf(toggle);
    if (!panel) {
      return;
    }
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    panel.classList.toggle("is-open", open);
  };

  const closeAll = (except) => {
    toggles().forEach((toggle) => {
      if (toggle !== except && toggle.getAttribute("aria-expanded") === "true") {
        setOpen(toggle, false);
      }
    });
  };

  const flip = (toggle) => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    closeAll(toggle);
    setOpen(toggle, open);
  };

  document.addEventListener("click", (event) => {
    const toggle = event.target instanceof Element && event.target.closest("[data-menu-toggle]");
    if (toggle) {
      event.preventDefault();
      flip(toggle);
      return;
    }
    const inside = event.target instanceof Element && event.target.closest("[data-menu]");
    if (!inside) {
      closeAll(null);
    }
  });

  document.addEventListener("keydown", (event) => {
    const toggle = event.target instanceof Element && event.target.closest("[data-menu-toggle]");
    // role="button" on a link: Space must press it too (Enter already clicks a link).
    if (toggle && event.key === " ") {
      event.preventDefault();
      flip(toggle);
      return;
    }
    if (event.key !== "Escape") {
      return;
    }
    toggles().forEach((t) => {
      if (t.getAttribute("aria-expanded") === "true") {
        const panel = panelOf(t);
        const hadFocus = panel && panel.contains(document.activeElement);
        setOpen(t, false);
        if (hadFocus || document.activeElement === t) {
          t.focus();
        }
      }
    });
  });

  // Tabbing out of an open panel closes it (focus left the menu for the page).
  document.addEventListener("focusin", (event) => {
    toggles().forEach((t) => {
      const panel = panelOf(t);
      if (t.getAttribute("aria-expanded") !== "true" || !panel) {
        return;
      }
      if (event.target !== t && !panel.contains(event.target)) {
        setOpen(t, false);
      }
    });
  });

  // A small menu on an item (<details class="item-menu">): Escape closes it too, and opening one
  // closes the others.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") {
      return;
    }
    document.querySelectorAll("details.item-menu[open]").forEach((details) => {
      const focusWasInside = details.contains(document.activeElement);
      details.open = false;
      if (focusWasInside) {
        details.querySelector("summary").focus();
      }
    });
  });
  document.addEventListener(
    "toggle",
    (event) => {
      const details = event.target;
      if (details instanceof HTMLDetailsElement && details.classList.contains("item-menu") && details.open) {
        document.querySelectorAll("details.item-menu[open]").forEach((other) => {
          if (other !== details) {
            other.open = false;
          }
        });
      }
    },
    true,
  );
  document.addEventListener("click", (event) => {
    const inside = event.target instanceof Element && event.target.closest("details.item-menu");
    document.querySelectorAll("details.item-menu[open]").forEach((details) => {
      if (details !== inside) {
        details.open = false;
      }
    });
  });

  // Destructive actions: a form with data-confirm="…" asks in a <dialog> first. Without
  // JavaScript the form posts to a confirmation page (or is itself on one).
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.dataset.confirmed) {
      return;
    }
    const dialog = document.getElementById("confirm-dialog");
    if (!(dialog instanceof HTMLDialogElement)) {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    dialog.querySelector("[data-confirm-text]").textContent = form.dataset.confirm;
    const yes = dialog.querySelector("[data-confirm-yes]");
    yes.textContent = form.dataset.confirmButton || "Confirm";
    const submitter = event.submitter;
    dialog.returnValue = "";
    dialog.onclose = () => {
      if (dialog.returnValue === "yes") {
        form.dataset.confirmed = "1";
        if (form.requestSubmit) {
          form.requestSubmit(submitter || undefined);
        } else {
          form.submit();
        }
        delete form.dataset.confirmed;
      } else if (submitter) {
        submitter.focus();
      }
    };
    dialog.showModal();
  }, true);
})();
