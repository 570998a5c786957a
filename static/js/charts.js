// Tooltips and arrow keys for the charts drawn on the server (blog/core/charts.py).
// Progressive enhancement: without this file every chart keeps its axes, its native <title>
// tooltips and its table. With it, hovering or focusing a bar or a sample shows its date and
// value beside it; Left/Right/Home/End move the focus along the chart; Escape hides the tip.
(() => {

  const setUp = (figure) => {
    if (figure.classList.contains("is-ready")) {
      return;
    }
    const plot = figure.querySelector(".chart-plot");
    const svg = figure.querySelector(".chart-svg");
    const tip = figure.querySelector(".chart-tip");
    const points = Array.from(figure.querySelectorAll(".chart-point"));
    if (!plot || !svg || !tip || points.length === 0) {
      return;
    }
    const cursor = figure.querySelector(".chart-cursor");
    const keys = figure.querySelector(".chart-keys");
    if (keys) {
      svg.setAttribute("aria-describedby", keys.id);
    }
    // Our tooltip replaces the browser's: two at once would cover each other.
    points.forEach((point) => point.querySelector("title")?.remove());
    let active = null;

    const place = (point) => {
      const box = plot.getBoundingClientRect();
      const frame = svg.getBoundingClientRect();
      const view = svg.viewBox.baseVal;
      const scale = frame.width / view.width;
      const x = frame.left - box.left + Number(point.dataset.x) * scale;
      const y = frame.top - box.top + Number(point.dataset.y) * scale;
      const width = tip.offsetWidth;
      const height = tip.offsetHeight;
      // Above the point, kept inside the chart's box so a phone never scrolls sideways.
      const left = Math.min(Math.max(x - width / 2, 0), Math.max(box.width - width, 0));
      const top = y - height - 12 >= 0 ? y - height - 12 : y + 12;
      // CSSOM properties, not a style attribute: the CSP (style-src 'self') allows these.
      tip.style.left = `${Math.round(left)}px`;
      tip.style.top = `${Math.round(top)}px`;
    };

    const show = (point) => {
      if (active && active !== point) {
        active.classList.remove("is-active");
      }
      active = point;
      point.classList.add("is-active");
      // The label is "<when>: <value>" (blog/core/charts.py, Point.label); a value never holds
      // ": ", a time may hold ":" ("14:05"), so it splits at the last ": ".
      const label = point.getAttribute("aria-label") || "";
      const cut = label.lastIndexOf(": ");
      const when = document.createElement("strong");
      when.textContent = cut < 0 ? label : label.slice(0, cut);
      const value = document.createElement("span");
      value.textContent = cut < 0 ? "" : label.slice(cut + 2);
      tip.replaceChildren(when, value);
      tip.hidden = false;
      if (cursor) {
        const [line, dot] = cursor.children;
        line.setAttribute("x1", point.dataset.x);
        line.setAttribute("x2", point.dataset.x);
        dot.setAttribute("cx", point.dataset.x);
        dot.setAttribute("cy", point.dataset.y);
      }
      plot.classList.add("is-active");
      place(point);
    };

    const hide = () => {
      tip.hidden = true;
      plot.classList.remove("is-active");
      if (active) {
        active.classList.remove("is-active");
        active = null;
      }
    };

    const focused = () => {
      const element = document.activeElement;
      return element && plot.contains(element) ? element.closest(".chart-point") : null;
    };

    plot.addEventListener("pointerover", (event) => {
      const point = event.target instanceof Element ? event.target.closest(".chart-point") : null;
      if (point) {
        show(point);
      }
    });
    plot.addEventListener("pointerleave", () => {
      const point = focused();
      if (point) {
        show(point); // the pointer left, the keyboard's place stays shown
      } else {
        hide();
      }
    });
    plot.addEventListener("focusin", (event) => {
      const point = event.target instanceof Element ? event.target.closest(".chart-point") : null;
      if (point) {
        show(point);
      }
    });
    plot.addEventListener("focusout", (event) => {
      if (!(event.relatedTarget instanceof Node) || !plot.contains(event.relatedTarget)) {
        hide();
      }
    });
    plot.addEventListener("keydown", (event) => {
      const current = focused();
      if (!current) {
        return;
      }
      if (event.key === "Escape") {
        hide();
        return;
      }
      const index = points.indexOf(current);
      const next = {
        ArrowLeft: index - 1,
        ArrowRight: index + 1,
        Home: 0,
        End: points.length - 1,
      }[event.key];
      if (next === undefined) {
        return;
      }
      event.preventDefault();
      const target = points[Math.min(Math.max(next, 0), points.length - 1)];
      // A roving tab stop: the chart is one stop in the tab order, wherever the reader left it.
      current.setAttribute("tabindex", "-1");
      target.setAttribute("tabindex", "0");
      target.focus();
    });
    window.addEventListener("resize", () => {
      if (active) {
        place(active);
      }
    });
    figure.classList.add("is-ready");
  };

  const setUpAll = (root) => {
    root.querySelectorAll("[data-chart]").forEach(setUp);
  };
  setUpAll(document);
  // A page part swapped in by htmx may bring charts of its own.
  document.addEventListener("htmx:load", (event) => {
    if (event.target instanceof Element) {
      setUpAll(event.target);
    }
  });
})();
