// In-page feedback for a held upload: a small panel near the input (or a corner toast when
// the input is hidden) with one progress row per photo, and the fail-closed notice with its
// two choices. Lives in a shadow root so the page's CSS cannot reach it; its buttons only
// obey trusted (user) clicks, so a page cannot press "Upload original anyway" by script.
//
// Classic script (content scripts cannot be modules): sets globalThis.CloakerOverlay.

globalThis.CloakerOverlay ??= (() => {
  const STYLE = `
    :host { all: initial; }
    .panel { position: fixed; z-index: 2147483647; box-sizing: border-box; width: 320px;
      max-width: calc(100vw - 16px); padding: 10px 12px; border-radius: 10px;
      background: #ffffff; color: #1f1f1f; border: 1px solid #c9c9c9;
      box-shadow: 0 6px 24px rgba(0,0,0,.18); font: 13px/1.35 system-ui, sans-serif; }
    .title { display: flex; align-items: center; gap: 6px; font-weight: 600; margin-bottom: 6px; }
    .shield { width: 16px; height: 16px; flex: none; }
    .row { margin: 6px 0; }
    .name { display: flex; justify-content: space-between; gap: 8px; }
    .name span:first-child { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .stage { color: #5f5f5f; flex: none; }
    .bar { height: 5px; background: #e6e6e6; border-radius: 3px; overflow: hidden; margin-top: 3px; }
    .fill { height: 100%; width: 0; background: #1d5fbf; transition: width .2s; }
    .row.ok .fill { background: #1b7f3b; transition: none; }
    .row.bad .fill { background: #b3261e; width: 100%; transition: none; }
    .row.bad .stage { color: #b3261e; }
    .notice { margin-top: 8px; padding-top: 8px; border-top: 1px solid #e6e6e6; }
    .why { color: #b3261e; margin-bottom: 8px; }
    .more { margin-top: 6px; }
    .more a { color: #1d5fbf; }
    .buttons { display: flex; gap: 8px; justify-content: flex-end; }
    button { font: inherit; padding: 5px 10px; border-radius: 6px; cursor: pointer;
      border: 1px solid #8a8a8a; background: #f4f4f4; color: #1f1f1f; }
    button.primary { background: #1d5fbf; border-color: #1d5fbf; color: #fff; }
  `;
  const SVG = "http://www.w3.org/2000/svg";
  const STAGES = {
    queued: "waiting", warming: "starting", decode: "reading", detect: "finding faces",
    optimize: "cloaking", encode: "saving", done: "done",
  };

  const FADE_MS = 4000;
  const MODES = { low: "low", mid: "medium", high: "high" };

  /** Opens the extension's page on what cloaking does (the background opens it). */
  function openHelp() {
    try {
      chrome.runtime.sendMessage({ type: "help", page: "cloaking" }).catch(() => {});
    } catch {
      // the extension was reloaded: nothing to open
    }
  }

  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  /**
   * The success heading: what was done, never a promise. `results`: one {status, faces} per
   * photo (status cloaked | no_face | skipped); `mode`: the strength used.
   */
  function summary(results, mode) {
    const cloaked = results.filter((r) => r.status === "cloaked");
    const faces = cloaked.reduce((n, r) => n + (Number(r.faces) || 0), 0);
    const none = results.filter((r) => r.status === "no_face").length;
    const parts = [];
    if (cloaked.length) {
      parts.push(`Cloaked ${plural(cloaked.length, "photo")} (${plural(faces, "face")}, ${MODES[mode] || mode || "default"} strength)`);
    }
    if (none) parts.push(`${plural(none, "photo")} with no face found, sent unchanged`);
    const skipped = results.length - cloaked.length - none;
    if (skipped) parts.push(`${plural(skipped, "photo")} not cloaked (protection is off)`);
    return parts.join("; ") || "Nothing to cloak";
  }

  function place(panel, anchor) {
    const rect = anchor && anchor.isConnected ? anchor.getBoundingClientRect() : null;
    const visible = rect && rect.width > 0 && rect.height > 0 && rect.bottom > 0 && rect.top < innerHeight;
    if (!visible) {
      Object.assign(panel.style, { right: "16px", bottom: "16px" });
      return;
    }
    const width = Math.min(320, innerWidth - 16);
    const left = Math.max(8, Math.min(rect.left, innerWidth - width - 8));
    const below = rect.bottom + 8;
    const top = below + 140 < innerHeight ? below : Math.max(8, rect.top - 148);
    Object.assign(panel.style, { left: `${left}px`, top: `${top}px` });
  }

  function shield() {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "shield");
    svg.setAttribute("viewBox", "0 0 16 16");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("fill", "#1d5fbf");
    path.setAttribute("d", "M8 1 2.5 3v4.2c0 3.4 2.3 6.3 5.5 7.3 3.2-1 5.5-3.9 5.5-7.3V3L8 1z");
    svg.append(path);
    return svg;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Show a panel for `names` (one row each) near `anchor`. Returns its controller. */
  function open(anchor, names) {
    const host = document.createElement("div");
    host.setAttribute("data-cloaker-overlay", "");
    const root = host.attachShadow({ mode: "open" });
    const style = el("style");
    style.textContent = STYLE;
    const panel = el("div", "panel");
    panel.setAttribute("role", "status");
    const title = el("div", "title");
    title.append(shield());
    const heading = el("span", "", names.length > 1 ? `Cloaking ${names.length} photos…` : "Cloaking your photo…");
    title.append(heading);
    panel.append(title);
    const rows = names.map((name) => {
      const row = el("div", "row");
      const line = el("div", "name");
      const stage = el("span", "stage", "waiting");
      line.append(el("span", "", name), stage);
      const bar = el("div", "bar");
      const fill = el("div", "fill");
      bar.append(fill);
      row.append(line, bar);
      panel.append(row);
      return { row, stage, fill };
    });
    root.append(style, panel);
    (document.body || document.documentElement).append(host);
    place(panel, anchor);

    return {
      element: host,
      progress(i, fraction, stage) {
        const r = rows[i];
        r.fill.style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
        r.stage.textContent = STAGES[stage] || stage;
      },
      finished(i, label) {
        const r = rows[i];
        r.row.classList.add("ok");
        r.fill.style.width = "100%";
        r.stage.textContent = label;
      },
      failed(i, label) {
        rows[i].row.classList.add("bad");
        rows[i].fill.style.width = "100%";
        rows[i].stage.textContent = label;
      },
      /**
       * All done: say what was done, with a link to what cloaking does and does not do, and
       * fade away (not while the pointer is on the panel).
       */
      success(text) {
        heading.textContent = text;
        const more = el("div", "more");
        const link = el("a", "", "What cloaking does and does not do");
        link.href = "#";
        link.addEventListener("click", (event) => {
          event.preventDefault();
          if (event.isTrusted) openHelp();
        });
        more.append(link);
        panel.append(more);
        let hovered = false;
        panel.addEventListener("pointerenter", () => (hovered = true));
        panel.addEventListener("pointerleave", () => {
          hovered = false;
          setTimeout(() => hovered || host.remove(), 1500);
        });
        setTimeout(() => hovered || host.remove(), FADE_MS);
      },
      /** The fail-closed notice. Resolves "original" or "cancel" on a trusted click. */
      ask(why) {
        heading.textContent = "Not uploaded: Cloaker did not cloak this photo";
        panel.setAttribute("role", "alertdialog");
        const notice = el("div", "notice");
        notice.append(el("div", "why", why));
        const buttons = el("div", "buttons");
        const cancel = el("button", "", "Cancel");
        const original = el("button", "primary", "Upload original anyway");
        buttons.append(cancel, original);
        notice.append(buttons);
        panel.append(notice);
        place(panel, anchor);
        return new Promise((resolve) => {
          const choose = (choice) => (event) => {
            if (!event.isTrusted) return;
            host.remove();
            resolve(choice);
          };
          original.addEventListener("click", choose("original"));
          cancel.addEventListener("click", choose("cancel"));
        });
      },
      close() {
        host.remove();
      },
    };
  }

  return { open, summary };
})();
