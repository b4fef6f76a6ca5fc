// The full-screen viewer over every grid of outputs and assets (Jobs expansions,
// the pipeline page, the Library). A grid is a [data-viewer-gallery] whose value
// is the details URL of asset 0; its tiles are [data-viewer-item="<asset id>"]
// (with data-output on Jobs tiles), and a tile that is a link, or a
// [data-viewer-open] link in it, opens it. Without JavaScript those links open the original, as before.
//
// The side panel is the server's details fragment (viewer/asset.html#details),
// loaded and acted on through htmx; the shortcuts press its buttons and links.
(function () {
  "use strict";

  const ITEM = "[data-viewer-item]";
  const SHORTCUTS = [
    ["← →", "previous / next"],
    ["Esc", "close (or leave compare, or these shortcuts)"],
    ["f", "favourite"],
    ["h", "hide / unhide"],
    ["Delete", "delete"],
    ["y", "copy the prompt"],
    ["s", "use as source in a new pipeline"],
    ["r", "recall settings in a new pipeline"],
    ["c", "compare with the next one (arrows change it)"],
    ["o", "open the original"],
    ["i", "show / hide the details"],
    ["?", "these shortcuts"],
  ];

  let dialog = null;
  let gallery = null; // the grid the viewer was opened on
  let current = null; // the tile shown
  let fixed = null; // in compare mode, the tile on the left (A); `current` is B
  let opener = null; // what had focus, given back on close
  let wanted = 0; // a step asked for past the tiles loaded, taken when the next page is in

  // The page's toast is under the modal viewer (the top layer), so the viewer says things in its own.
  function toast(message, isError) {
    const el = dialog && dialog.open ? part("status") : document.getElementById("toast");
    if (!el) return;
    el.textContent = message;
    el.classList.toggle("error", Boolean(isError));
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.textContent = ""; }, 4000);
  }

  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  }

  const part = (name) => dialog.querySelector("[data-viewer-" + name + "]");
  const items = () => (gallery ? Array.from(gallery.querySelectorAll(ITEM)) : []);

  function srcOf(item) {
    if (item.hasAttribute("href")) return item.getAttribute("href");
    const link = item.querySelector("[data-viewer-open]");
    return link ? link.getAttribute("href") : "";
  }

  function detailsUrl(item) {
    const url = gallery.dataset.viewerGallery.replace(/\/0\/$/, "/" + item.dataset.viewerItem + "/");
    return item.dataset.output ? url + "?output=" + encodeURIComponent(item.dataset.output) : url;
  }

  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "viewer";
    dialog.setAttribute("aria-label", "Viewer");
    dialog.innerHTML =
      '<div class="viewer-main">' +
      '  <div class="viewer-bar">' +
      '    <span class="viewer-position" data-viewer-position></span>' +
      '    <button type="button" data-viewer-compare-toggle aria-pressed="false" title="Compare (c)">Compare</button>' +
      '    <button type="button" data-viewer-info aria-pressed="true" title="Details (i)">Details</button>' +
      '    <button type="button" data-viewer-help title="Shortcuts (?)">?</button>' +
      '    <button type="button" data-viewer-close title="Close (Esc)" aria-label="Close">✕</button>' +
      "  </div>" +
      '  <div class="viewer-stage" data-viewer-stage></div>' +
      '  <div class="viewer-compare" data-viewer-compare hidden>' +
      '    <div class="viewer-compare-frame" data-viewer-frame><div class="viewer-a" data-viewer-a></div><div class="viewer-b" data-viewer-b></div></div>' +
      '    <label class="viewer-split">A <input type="range" min="0" max="100" value="50" data-viewer-split aria-label="Split between A and B"> B</label>' +
      "  </div>" +
      '  <button type="button" class="viewer-nav prev" data-viewer-prev title="Previous (←)" aria-label="Previous">‹</button>' +
      '  <button type="button" class="viewer-nav next" data-viewer-next title="Next (→)" aria-label="Next">›</button>' +
      '  <p class="viewer-status" data-viewer-status role="status" aria-live="polite"></p>' +
      "</div>" +
      '<aside class="viewer-details" data-viewer-details aria-live="polite"></aside>' +
      '<div class="viewer-shortcuts" data-viewer-shortcuts role="dialog" aria-label="Keyboard shortcuts" hidden><h2>Keyboard shortcuts</h2><dl></dl>' +
      '<button type="button" data-viewer-shortcuts-close>Close</button></div>';
    const list = part("shortcuts").querySelector("dl");
    SHORTCUTS.forEach(([key, what]) => {
      const dt = document.createElement("dt");
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      dt.appendChild(kbd);
      const dd = document.createElement("dd");
      dd.textContent = what;
      list.append(dt, dd);
    });
    document.body.appendChild(dialog);

    dialog.addEventListener("click", onClick);
    dialog.addEventListener("keydown", onKey);
    dialog.addEventListener("cancel", (event) => {
      // Esc closes the innermost thing first: the shortcuts, then compare, then the viewer.
      if (!part("shortcuts").hidden) {
        event.preventDefault();
        part("shortcuts").hidden = true;
      } else if (fixed) {
        event.preventDefault();
        fixed = null;
        render();
      }
    });
    dialog.addEventListener("close", () => {
      if (entered) {
        // Closed by Esc, ✕ or a delete: the entry opening made goes, so Back then leaves the page as before.
        entered = false;
        ownBack = true;
        history.back();
      }
      dialog.querySelectorAll("video").forEach((v) => v.pause());
      part("stage").replaceChildren();
      part("a").replaceChildren();
      part("b").replaceChildren();
      fixed = null;
      current = null;
      syncState(); // a toggle's panel swapped in but not yet settled: its tile, then the grid
      if (opener && opener.isConnected) opener.focus();
    });
    part("split").addEventListener("input", (event) => {
      part("frame").style.setProperty("--split", event.target.value + "%");
    });
    // A panel is ready once settled: htmx wires up its forms then, not when it is swapped in.
    // A toggle in the panel redraws it: the tile shows the new state too.
    part("details").addEventListener("htmx:afterSettle", syncState);
  }

  function media(item, autoplay) {
    const src = srcOf(item);
    if (item.dataset.kind === "video") {
      // Controls seek by Range requests: the media view answers them (i2v/lib/ranges.py, or nginx).
      const video = Object.assign(document.createElement("video"), { src, controls: true, preload: "metadata", playsInline: true, loop: true });
      if (item.dataset.preview) video.poster = item.dataset.preview;
      if (autoplay) video.autoplay = true;
      return video;
    }
    const img = Object.assign(document.createElement("img"), { src, alt: item.getAttribute("title") || "", decoding: "async" });
    return img;
  }

  function neighbour(item, step) {
    const list = items();
    const i = list.indexOf(item);
    return i === -1 ? null : list[i + step] || null;
  }

  // The grid's next page, as its own scrolling asks for it (the Library's "Load more" row, a
  // pipeline's "Show more" tile), unless it is on its way: false when the grid has no more.
  function loadMore() {
    const more = gallery.querySelector(".more-tiles-row a, a.more-tiles");
    if (!more) return false;
    // On its way: htmx marks the link or its indicator (not an ancestor, which another request may mark).
    if (![more, more.closest(".more-tiles-row")].some((el) => el && el.classList.contains("htmx-request"))) htmx.trigger(more, "click");
    return true;
  }

  function showPosition() {
    const list = items();
    const i = list.indexOf(current);
    const more = Boolean(gallery.querySelector(".more-tiles, .more-tiles-row"));
    // Not all loaded: the count above the Library's grid, when it is exact, else "60+".
    const total = more && gallery.id === "grid" && document.querySelector("[data-total][data-noun=asset]:not([data-estimate])");
    part("position").textContent = (i + 1) + " of " + (total ? Number(total.dataset.total).toLocaleString("en") : list.length + (more ? "+" : ""));
    part("prev").disabled = i <= 0;
    part("next").disabled = i >= list.length - 1 && !more;
    return list.length - 1 - i;
  }

  function render() {
    // The next page is asked for a few tiles ahead, and the grid behind follows: its windowing
    // (lists.js) keeps the tiles near the one shown, and closing the viewer leaves you there.
    if (showPosition() < 3) loadMore();
    current.scrollIntoView({ block: "nearest" });
    const comparing = Boolean(fixed);
    part("compare-toggle").setAttribute("aria-pressed", String(comparing));
    part("stage").hidden = comparing;
    part("compare").hidden = !comparing;
    dialog.querySelectorAll("video").forEach((v) => v.pause());
    if (comparing) {
      part("stage").replaceChildren();
      part("a").replaceChildren(media(fixed, false));
      part("b").replaceChildren(media(current, false));
    } else {
      part("a").replaceChildren();
      part("b").replaceChildren();
      part("stage").replaceChildren(media(current, true));
      // The next one is fetched while this one is looked at.
      const next = neighbour(current, 1);
      if (next && next.dataset.kind !== "video") new Image().src = srcOf(next);
    }
    loadDetails();
  }

  function loadDetails() {
    const panel = part("details");
    // The previous panel stays, dimmed, until this one arrives: no flash of an empty panel between tiles.
    panel.setAttribute("aria-busy", "true");
    htmx.ajax("GET", detailsUrl(current), { source: panel, target: panel, swap: "innerHTML" });
  }

  function syncState() {
    part("details").removeAttribute("aria-busy");
    const state = part("details").querySelector("[data-viewer-state]");
    // A panel that arrives after the viewer moved on belongs to another tile.
    const item = state && items().find((el) => el.dataset.viewerItem === state.dataset.asset);
    if (item) {
      if (item.hasAttribute("data-favorite") !== (state.dataset.favorite === "true")) toggled.add(item.id);
      item.toggleAttribute("data-favorite", state.dataset.favorite === "true");
      if (item.hasAttribute("data-hidden") !== (state.dataset.hidden === "true")) toggled.add(item.id);
      item.toggleAttribute("data-hidden", state.dataset.hidden === "true");
    }
    if (!dialog.open) leaveFilteredGrid(); // closing, or the answer of a toggle came after the viewer closed
  }

  // Tiles hidden (or shown again), or unstarred in a grid of favourites, in the viewer leave a grid that
  // doesn't show such tiles, and its count goes down, as a reload would show; only once the viewer closes,
  // so ← → still walk the grid it opened on.
  const toggled = new Set(); // ids of the tiles hidden, shown again, starred or unstarred since the grid was last left
  function leaveFilteredGrid() {
    const filter = gallery && gallery.dataset.hiddenFilter;
    const favorites = gallery && gallery.dataset.favoritesFilter === "1";
    if (filter === undefined || (filter === "include" && !favorites)) return;
    // A tile walked far past was windowed out of the document (lists.js), its flags with it: back in, to leave.
    if (toggled.size) i2vLists.bringBack([...toggled]);
    toggled.clear();
    const shown = (el) => (filter === "include" || el.hasAttribute("data-hidden") === (filter === "only"))
      && (!favorites || el.hasAttribute("data-favorite"));
    const out = items().filter((el) => !shown(el));
    out.forEach((el) => el.remove());
    if (out.length) document.dispatchEvent(new CustomEvent("totalChanged", { detail: { by: -out.length, noun: "asset" } }));
  }

  // The history entry the open viewer stands on (same address): Back, or a phone's back gesture, closes it.
  // These go before htmx's handler (window.onpopstate), which would fetch the page again for an entry it made.
  let entered = false;
  let ownBack = false; // the Back that closing by Esc or ✕ makes: nothing else to do
  window.addEventListener("popstate", (event) => {
    if (!ownBack && !entered) return;
    event.stopImmediatePropagation();
    history.scrollRestoration = "auto"; // the page's entry again, as it was for a Back from another page
    if (ownBack) {
      ownBack = false;
      return;
    }
    entered = false;
    if (dialog && dialog.open) dialog.close();
  }, { capture: true });

  function open(item) {
    if (!dialog) build();
    gallery = item.closest("[data-viewer-gallery]");
    if (!gallery) return;
    opener = document.activeElement;
    current = item;
    fixed = null;
    part("shortcuts").hidden = true;
    if (!dialog.open) {
      dialog.showModal();
      // Back closes the viewer (a phone's way out), not the page. Coming back to the page's entry must not put
      // the scroll where it was when the viewer opened: the grid has followed the viewer since.
      history.scrollRestoration = "manual";
      history.pushState({ i2vViewer: true }, "");
      history.scrollRestoration = "auto";
      entered = true;
    }
    render();
    part("close").focus();
  }

  function go(step) {
    const next = neighbour(current, step);
    if (!next || next === fixed) {
      const beyond = next && neighbour(next, step);
      if (!beyond) {
        // Past the last tile loaded: on to the first of the next page once it is in (htmx.onLoad below).
        if (step > 0 && loadMore()) wanted = step;
        return;
      }
      current = beyond;
    } else {
      current = next;
    }
    render();
  }

  function toggleCompare() {
    if (fixed) {
      fixed = null;
      render();
      return;
    }
    const other = neighbour(current, 1) || neighbour(current, -1);
    if (!other) {
      toast("There is nothing else in this grid to compare with.");
      return;
    }
    fixed = current;
    current = other;
    render();
  }

  // A shortcut acts on the tile shown, never on the panel of the previous one still waiting to be
  // replaced, nor on a panel whose forms htmx has not wired up yet (they would post as plain forms).
  function ready() {
    const panel = part("details");
    const state = panel.querySelector("[data-viewer-state]");
    return !panel.hasAttribute("aria-busy") && state && current && state.dataset.asset === current.dataset.viewerItem;
  }

  function action(name) {
    return ready() ? part("details").querySelector('[data-viewer-action="' + name + '"]') : null;
  }

  // A shortcut whose action this asset doesn't have says why, rather than doing nothing.
  function press(name, why, run) {
    const button = action(name);
    if (button) (run || ((b) => b.click()))(button);
    else if (ready()) toast(why);
  }

  async function copyPrompt(button) {
    const text = button.dataset.prompt || "";
    try {
      await navigator.clipboard.writeText(text);
      toast("Prompt copied.");
    } catch (error) {
      toast("The browser refused the clipboard; select the prompt and copy it.", true);
    }
  }

  async function remove(link) {
    const state = part("details").querySelector("[data-viewer-state]");
    if (!state || !window.confirm("Delete this asset? It also leaves the pipelines it is an output of, and pipelines started from it can't be rerun.")) return;
    const body = new URLSearchParams({ ids: state.dataset.asset });
    let response;
    try {
      // As htmx would send it, so the answer is the short fragment rather than a redirect to the Library.
      response = await fetch(link.dataset.url, { method: "POST", body, headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" } });
    } catch (error) {
      toast("Can't reach the server. Check your connection and try again.", true);
      return;
    }
    if (!response.ok) {
      toast("The asset could not be deleted (" + response.status + ").", true);
      return;
    }
    // The events the answer names (HX-Trigger: the Library's count goes down), as htmx would fire them.
    Object.entries(JSON.parse(response.headers.get("HX-Trigger") || "{}")).forEach(([name, detail]) => {
      document.dispatchEvent(new CustomEvent(name, { detail }));
    });
    const gone = items().find((el) => el.dataset.viewerItem === state.dataset.asset) || current;
    const after = neighbour(gone, 1) || neighbour(gone, -1);
    gone.remove();
    toast("Deleted 1 asset.");
    if (fixed === gone) fixed = null;
    if (!after) {
      dialog.close();
      return;
    }
    current = after === fixed ? neighbour(after, 1) || neighbour(after, -1) || after : after;
    if (current === fixed) fixed = null;
    render();
  }

  function toggleDetails() {
    const hidden = dialog.classList.toggle("no-details");
    part("info").setAttribute("aria-pressed", String(!hidden));
  }

  function onClick(event) {
    const target = event.target;
    if (target === dialog) return; // the backdrop area: nothing
    if (target.closest("[data-viewer-close]")) dialog.close();
    else if (target.closest("[data-viewer-prev]")) go(-1);
    else if (target.closest("[data-viewer-next]")) go(1);
    else if (target.closest("[data-viewer-compare-toggle]")) toggleCompare();
    else if (target.closest("[data-viewer-info]")) toggleDetails();
    else if (target.closest("[data-viewer-help]")) part("shortcuts").hidden = !part("shortcuts").hidden;
    else if (target.closest("[data-viewer-shortcuts-close]")) part("shortcuts").hidden = true;
    else if (target.closest('[data-viewer-action="delete"]')) {
      event.preventDefault();
      remove(target.closest('[data-viewer-action="delete"]'));
    }
  }

  const KEYS = {
    ArrowRight: () => go(1),
    ArrowLeft: () => go(-1),
    c: toggleCompare,
    i: toggleDetails,
    "?": () => { part("shortcuts").hidden = !part("shortcuts").hidden; },
    f: () => action("favorite") && action("favorite").click(),
    h: () => action("hide") && action("hide").click(),
    Delete: () => action("delete") && remove(action("delete")),
    y: () => press("copy", "This asset has no prompt to copy.", copyPrompt),
    s: () => press("source", "Only an image that processed can be a source."),
    r: () => press("recall", "Only a pipeline's output, or an image with its settings inside, has settings to recall."),
    o: () => action("original") && action("original").click(),
  };

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // Typing in a field, moving the slider or seeking a video keeps its own keys.
    if (event.target.closest("input, textarea, select, video")) return;
    const handler = KEYS[event.key];
    if (!handler) return;
    event.preventDefault();
    handler();
  }

  // Tiles of the grid's next page (or back from its window): a step waiting for them is taken.
  htmx.onLoad((root) => {
    if (!dialog || !dialog.open || !gallery || !(root instanceof Element) || !gallery.contains(root)) return;
    const step = wanted;
    wanted = 0;
    if (step) go(step);
    else showPosition();
  });

  // Open: a plain click on a tile's opener (a modified click still opens the original in a tab),
  // or a double click anywhere on a tile.
  document.addEventListener("click", (event) => {
    // A Jobs tile is itself the link to its original; a Library tile has one (↗) among its controls.
    const link = event.target.closest("[data-viewer-open], a" + ITEM);
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    const item = link.closest(ITEM);
    if (!item || !item.closest("[data-viewer-gallery]")) return;
    event.preventDefault();
    open(item);
  });
  document.addEventListener("dblclick", (event) => {
    const item = event.target.closest(ITEM);
    if (!item || !item.closest("[data-viewer-gallery]") || (dialog && dialog.contains(item))) return;
    event.preventDefault();
    open(item);
  });

  // "Copy prompt" on the details page of its own (no viewer open) too.
  document.addEventListener("click", (event) => {
    const button = event.target.closest('[data-viewer-action="copy"]');
    if (button) copyPrompt(button);
  });
})();
