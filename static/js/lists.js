// Long lists (the Jobs rows, the Library grid) stay live and light:
//
// - Live: rows and tiles at work carry data-watch="<id>:<version>". One request
//   every 2 s (up to 6 s while nothing changes) asks the list's data-watch-url about those near the viewport, and
//   the answer holds only what changed, as out-of-band swaps (i2v/lib/watch.py).
//   Nothing is asked while the tab is hidden, and the timer stops when nothing in
//   the document is at work (rows windowed out wait until they come back). (One poll per row made 10 requests/s for 22 active rows.)
//   A list may send more with its checks (data-watch-with: the Jobs page's new pipelines), and is then checked
//   once, too, whenever the page is seen again, at work or not.
// - Light: the items of a list with data-window (its children with an id) are
//   windowed: runs of them far from the viewport are taken out of the document
//   and stand in one spacer of the same height, and come back as they near it.
//   CSS content-visibility skips their painting but keeps every node (12,000 for
//   500 Jobs rows); this keeps a few screens' worth, however far one scrolls.
//   A spacer keeps its runs as HTML text (UTF-8 bytes), not as nodes: detached nodes
//   would hold as much memory as those in the document. Form state (checked boxes, typed
//   values) is written into the HTML first; items that come back are new nodes,
//   processed by htmx and announced with htmx:load like any swapped-in content.
//   Items stay light in the document too: htmx processes only their elements with hx-
//   attributes (see revive()), as those of a next page, which the window takes over
//   before htmx settles it; the rest would each keep an Attr node per attribute.
//   window.i2vLists.ids(list) gives the id of every item, in the document or not,
//   for "select all loaded" and the like; items(list) gives the items themselves,
//   those in spacers as detached copies (changing them changes nothing).
(function () {
  "use strict";

  // --- Live updates -------------------------------------------------------------
  // Every 2 s while answers bring changes; while they bring none (204), the wait
  // grows to 6 s, and any change brings it back to 2 s.
  const WATCH_EVERY_MS = 2000;
  const WATCH_IDLE_MAX_MS = 6000;
  const WATCH_MAX = 100; // the server's bound (i2v/lib/watch.py WATCH_MAX)
  let timer = null;
  let wait = WATCH_EVERY_MS;
  let changed = false;

  function nearView(el, screens) {
    const box = el.getBoundingClientRect();
    const margin = window.innerHeight * screens;
    return box.bottom > -margin && box.top < window.innerHeight + margin;
  }

  // A list may name, in data-watch-with, an element whose [data-params] go with each of its checks (the Jobs
  // page's bar of new pipelines, jobs/newer.py: its filters and top row). Such a list is checked also when the
  // page is seen again (`seen`: its tab shown, its window focused), with nothing at work: one request then, and
  // none on a timer, so an idle page asks nothing until someone looks at it.
  let asking = false; // a check's answers are on their way
  let askingAll = false; // and it asks what a page seen again asks
  let seenSince = false; // the page was seen again since a check that doesn't went

  function check(seen) {
    timer = null;
    if (document.hidden) return;
    let atWork = false;
    const asks = [];
    document.querySelectorAll("[data-watch-url]").forEach((list) => {
      const items = Array.from(list.querySelectorAll("[data-watch]"));
      atWork = atWork || items.length > 0;
      const near = items.filter((el) => nearView(el, 1)).slice(0, WATCH_MAX);
      const also = list.dataset.watchWith && document.getElementById(list.dataset.watchWith);
      if (!near.length && !(seen && also)) return;
      const params = also && also.querySelector("[data-params]");
      const values = params ? Object.fromEntries(new URLSearchParams(params.dataset.params)) : {};
      values.watch = near.map((el) => el.dataset.watch).join(",");
      asks.push(htmx.ajax("GET", list.dataset.watchUrl, { source: list, target: list, swap: "none", values }));
    });
    // The next check waits for this one's answers: a slow server is not asked twice at once.
    changed = false;
    asking = asks.length > 0;
    askingAll = Boolean(seen);
    Promise.allSettled(asks).then(() => {
      asking = false;
      if (seenSince) {
        seenSince = false;
        return check(true);
      }
      if (!atWork) return;
      wait = changed || !asks.length ? WATCH_EVERY_MS : Math.min(wait * 1.5, WATCH_IDLE_MAX_MS);
      schedule();
    });
  }
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.elt && event.detail.elt.matches && event.detail.elt.matches("[data-watch-url]") && event.detail.xhr.status !== 204) changed = true;
  });

  function schedule() {
    if (timer === null && !document.hidden) timer = setTimeout(check, wait);
  }

  // Seen again: up to date at once, new pipelines included. Showing a tab and focusing its window often come
  // together: one check answers both (a check on its way is followed by one more, once).
  function seenAgain() {
    wait = WATCH_EVERY_MS;
    if (document.hidden) return;
    if (asking) {
      seenSince = seenSince || !askingAll; // the check on its way asks it, or one follows it
      return;
    }
    clearTimeout(timer);
    check(true);
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) return seenAgain();
    clearTimeout(timer);
    timer = null;
  });
  window.addEventListener("focus", seenAgain);
  // A page loaded, or rows redrawn: some may be at work.
  htmx.onLoad(schedule);

  // --- Windowing ----------------------------------------------------------------
  const KEEP_SCREENS = 1; // items within a screen above or below the viewport stay in the document
  const CHUNK_PX = 600; // items leave and come back in runs of about this height
  const lists = () => Array.from(document.querySelectorAll("[data-window]"));
  const isItem = (el) => el.id !== "" && !el.classList.contains("window-gap");
  const isGap = (el) => el.classList.contains("window-gap");

  function gaps(list) {
    return Array.from(list.children).filter(isGap);
  }

  // A spacer: a table section for a table, a full-width grid cell for a grid.
  function makeGap(list, chunks) {
    let gap, box;
    if (list.tagName === "TABLE") {
      gap = document.createElement("tbody");
      const row = gap.insertRow();
      box = row.insertCell();
      // Exactly the table's columns: a wider span would add columns of its own, which
      // share out the width left over and squeeze the others (a fixed layout's auto ones).
      box.colSpan = columnsOf(list);
    } else {
      gap = box = document.createElement(list.tagName === "UL" || list.tagName === "OL" ? "li" : "div");
    }
    gap.className = "window-gap";
    gap.setAttribute("aria-hidden", "true");
    gap.chunks = chunks;
    box.style.height = chunks.reduce((sum, c) => sum + c.height, 0) + "px";
    return gap;
  }

  function columnsOf(table) {
    const first = table.rows[0];
    return first ? Array.from(first.cells).reduce((sum, cell) => sum + cell.colSpan, 0) : 1;
  }

  // How many items one line holds (a table row: 1; a grid row: its columns).
  function perLine(list) {
    const items = Array.from(list.children).filter(isItem);
    if (items.length < 2) return 1;
    const top = items[0].offsetTop;
    let n = 1;
    while (n < items.length && items[n].offsetTop === top) n += 1;
    return n;
  }

  function chunkSize(list, state) {
    if (!state.size) {
      const first = Array.from(list.children).find(isItem);
      const line = first ? first.getBoundingClientRect().height || 1 : 1;
      state.size = perLine(list) * Math.max(2, Math.round(CHUNK_PX / line));
    }
    return state.size;
  }

  // A run of items as text: {html, ids (the items'), held (every id in them, for
  // out-of-band swaps), height}. The HTML is kept as UTF-8 bytes: a JS string with
  // one character past Latin-1 (▸, ☆, —) takes two bytes a character, twice as many.
  const UTF8 = new TextEncoder();
  const FROM_UTF8 = new TextDecoder();
  function freeze(items, height) {
    const held = [];
    items.forEach((item) => {
      // htmx's classes of the moment (a page taken before it settled) are not the item's.
      item.classList.remove(htmx.config.addedClass, htmx.config.settlingClass);
      held.push(item.id);
      item.querySelectorAll("[id]").forEach((el) => held.push(el.id));
      // What the user changed lives in properties, which HTML does not carry: into attributes.
      item.querySelectorAll("input, textarea, option").forEach((el) => {
        if (el.tagName === "OPTION") el.toggleAttribute("selected", el.selected);
        else if (el.tagName === "TEXTAREA") el.textContent = el.value;
        else if (el.type === "checkbox" || el.type === "radio") el.toggleAttribute("checked", el.checked);
        else if (el.type !== "file") el.setAttribute("value", el.value);
      });
      // Scripts' inline styles (a tag's colour, a ThumbHash) would be refused by the CSP
      // if parsed back from HTML: they are set again through the CSSOM in thaw().
      const styled = Array.from(item.querySelectorAll("[style]"));
      if (item.hasAttribute("style")) styled.push(item);
      styled.forEach((el) => {
        el.setAttribute("data-window-style", el.getAttribute("style"));
        el.removeAttribute("style");
      });
    });
    const html = UTF8.encode(items.map((item) => item.outerHTML).join(""));
    return { html, ids: items.map((item) => item.id), held, height };
  }

  // New nodes for a frozen chunk, not yet in the document.
  function thaw(chunk) {
    const template = document.createElement("template");
    template.innerHTML = FROM_UTF8.decode(chunk.html);
    template.content.querySelectorAll("[data-window-style]").forEach((el) => {
      el.style.cssText = el.getAttribute("data-window-style");
      el.removeAttribute("data-window-style");
    });
    return Array.from(template.content.children);
  }

  // Items back in the document get their htmx behaviour and their onLoad hooks
  // (tag colours, selection, watching) as swapped-in content does. htmx is given
  // only their elements with hx- attributes: it looks for hx-on ones with an XPath
  // over every attribute of what it processes, and Chromium then keeps an Attr node
  // for each attribute on its element for as long as the element lives (5 more nodes
  // an element, 30 a tile), though most items have nothing for htmx at all.
  // getAttributeNames() makes no Attr nodes.
  const usesHtmx = (el) => el.getAttributeNames().some((name) => name.startsWith("hx-") || name.startsWith("data-hx-"));
  function revive(nodes) {
    nodes.forEach((node) => {
      [node, ...node.querySelectorAll("*")].filter(usesHtmx).forEach((el) => htmx.process(el));
      htmx.trigger(node, "htmx:load");
    });
  }

  // A page of items htmx brings (the next page, swapped for "Load more") would be
  // processed whole when it settles. Before that, those far from the viewport go into
  // a spacer and those near it are parsed anew and revived like items coming back;
  // htmx then settles the old nodes, out of the document.
  // Keyed by request: a swap refused after beforeSwap leaves nothing for another's afterSwap.
  const arriving = new WeakMap();
  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    const list = target && target.parentElement;
    if (list && list.matches("[data-window]") && !isItem(target)) arriving.set(event.detail.xhr, list);
  });
  // Sent for each new node in turn once all are in: the first does it. htmx's afterSettle then
  // fires on the old nodes, out of the document, where no listener of the document hears it:
  // what this script does on it is asked for here (the new rows come in their first state,
  // so app.js's settle work, the expanded marks and the bulk bar, has nothing to change).
  document.addEventListener("htmx:afterSwap", (event) => {
    const list = arriving.get(event.detail.xhr);
    if (!list) return;
    arriving.delete(event.detail.xhr);
    conceal(list, chunkSize(list, stateOf(list)));
    adopt(list);
    soon();
  });

  function adopt(list) {
    const fresh = Array.from(list.children).filter((el) => isItem(el) && el.classList.contains(htmx.config.addedClass));
    const nodes = thaw(freeze(fresh, 0));
    fresh.forEach((el, i) => el.replaceWith(nodes[i]));
    revive(nodes);
  }

  // Bring every chunk of `gap` near the viewport (or matching `want`) back, the
  // rest staying in spacers before and after them.
  function reveal(list, gap, want) {
    const parts = [];
    const back = [];
    let far = [];
    let top = gap.getBoundingClientRect().top;
    gap.chunks.forEach((chunk) => {
      const near = want ? want(chunk) : top + chunk.height > -window.innerHeight * KEEP_SCREENS && top < window.innerHeight * (1 + KEEP_SCREENS);
      top += chunk.height;
      if (!near) return far.push(chunk);
      if (far.length) parts.push(makeGap(list, far));
      far = [];
      const nodes = thaw(chunk);
      back.push(...nodes);
      parts.push(...nodes);
    });
    if (far.length === gap.chunks.length) return;
    if (far.length) parts.push(makeGap(list, far));
    gap.replaceWith(...parts);
    revive(back);
    schedule(); // rows at work that come back are watched again
  }

  // Runs of items far from the viewport go into spacers; neighbouring spacers merge.
  function conceal(list, size) {
    const limit = window.innerHeight * KEEP_SCREENS;
    const moves = [];
    let run = [];
    const flush = () => {
      // Chunks start where the run starts, after a spacer or at the top: whole
      // lines, so a grid's later items keep their columns.
      for (let i = 0; i + size <= run.length; i += size) {
        const items = run.slice(i, i + size);
        const top = items[0].getBoundingClientRect().top;
        const bottom = Math.max(...items.slice(-perLineOf(items)).map((el) => el.getBoundingClientRect().bottom));
        if (bottom < -limit || top > window.innerHeight + limit) moves.push({ items, height: bottom - top });
      }
      run = [];
    };
    Array.from(list.children).forEach((el) => (isItem(el) ? run.push(el) : flush()));
    flush();
    // Measured first, then moved: one layout for the whole pass.
    moves.forEach(({ items, height }) => {
      const before = items[0].previousElementSibling;
      const after = items[items.length - 1].nextElementSibling;
      const chunk = freeze(items, height);
      if (before && isGap(before)) {
        before.chunks.push(chunk);
        resize(before);
      } else if (after && isGap(after)) {
        after.chunks.unshift(chunk);
        resize(after);
      } else {
        items[0].before(makeGap(list, [chunk]));
      }
      items.forEach((el) => el.remove());
    });
    // Two spacers that met (a run between them left) become one.
    gaps(list).forEach((gap) => {
      const next = gap.nextElementSibling;
      if (next && isGap(next)) {
        next.chunks.unshift(...gap.chunks);
        resize(next);
        gap.remove();
      }
    });
  }

  // The last line of a chunk is where its bottom is measured (a grid's last line may be short).
  function perLineOf(items) {
    const top = items[items.length - 1].offsetTop;
    let n = 0;
    while (n < items.length && items[items.length - 1 - n].offsetTop === top) n += 1;
    return n;
  }

  function resize(gap) {
    const box = gap.tagName === "TBODY" ? gap.rows[0].cells[0] : gap;
    box.style.height = gap.chunks.reduce((sum, c) => sum + c.height, 0) + "px";
  }

  const states = new WeakMap();
  function stateOf(list) {
    if (!states.has(list)) states.set(list, {});
    return states.get(list);
  }

  function update() {
    lists().forEach((list) => {
      gaps(list).forEach((gap) => reveal(list, gap));
      conceal(list, chunkSize(list, stateOf(list)));
    });
  }

  let pending = false;
  function soon() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      update();
    });
  }
  window.addEventListener("scroll", soon, { passive: true });
  document.addEventListener("htmx:afterSettle", soon);
  // A new width may change a grid's columns: everything comes back and is measured again.
  window.addEventListener("resize", () => {
    lists().forEach((list) => {
      gaps(list).forEach((gap) => reveal(list, gap, () => true));
      states.delete(list);
    });
    soon();
  });

  // An out-of-band swap must find its target in the document: items a response
  // names (a bulk action's rows, a removal) come back first.
  const OOB_TAG = /<[^>]*\bhx-swap-oob\b[^>]*>/g;
  const ID = /\bid=(?:"([^"]+)"|([^\s"'=<>`]+))/; // quoted, or not (a Jobs row's)
  document.addEventListener("htmx:beforeSwap", (event) => {
    const text = event.detail.serverResponse;
    if (typeof text !== "string" || text.indexOf("hx-swap-oob") === -1) return;
    const ids = (text.match(OOB_TAG) || []).map((tag) => { const m = tag.match(ID) || []; return m[1] || m[2]; })
      .filter((id) => id && !document.getElementById(id));
    if (ids.length) bringBack(ids);
  });

  function bringBack(ids) {
    lists().forEach((list) => {
      gaps(list).forEach((gap) => reveal(list, gap, (chunk) => chunk.held.some((id) => ids.includes(id))));
    });
  }

  // The id of every item of a list, those in spacers included, in order.
  function ids(list) {
    if (!list) return [];
    const all = [];
    Array.from(list.children).forEach((el) => {
      if (isGap(el)) el.chunks.forEach((chunk) => all.push(...chunk.ids));
      else if (isItem(el)) all.push(el.id);
    });
    return all;
  }

  // Every item of a list, in order; those in spacers as detached copies, made anew
  // on each call: read them, don't change them.
  function items(list) {
    if (!list) return [];
    const all = [];
    Array.from(list.children).forEach((el) => {
      if (isGap(el)) el.chunks.forEach((chunk) => all.push(...thaw(chunk)));
      else if (isItem(el)) all.push(el);
    });
    return all;
  }

  window.i2vLists = { ids, items, bringBack };
})();
