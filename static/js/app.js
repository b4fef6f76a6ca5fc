// The little that htmx does not cover: expanding rows, selection, hover previews,
// and error toasts. Everything else is server-rendered HTML.
(function () {
  "use strict";

  const ROW = 'tr[id^="row-"]';
  // A row's buttons are known by their state or label, not by a class: the rows' bytes are budgeted.
  const EXPAND = "button[aria-expanded]";
  const STAR = "button[aria-pressed]";
  const MENU = "button[aria-label=Actions]";

  // The pipeline id of a row (row-<id>) or of anything in it, such as its checkbox, which carries no value.
  const pipelineId = (el) => el.closest(ROW).id.slice("row-".length);

  // Whether an htmx request did what it asked (2xx). A designed refusal (400, 403, 409, 413, 422, 429: a form
  // with its errors, a toast) is swapped in without being an htmx error (base.html's responseHandling: no console
  // error for a person's typo), so htmx's own `successful` is true for it too. library.js reads it as well.
  const succeeded = (event) => event.detail.xhr.status >= 200 && event.detail.xhr.status < 300;
  window.i2vSucceeded = succeeded;

  // The second click of a double click on a button is dropped: it created a second pipeline (Create and run,
  // Rerun), turned a star back off, or landed on the button drawn where the first one was (Approve, then Cancel).
  // A click's `detail` counts the clicks in a row at one place; keys give 0. The viewer's buttons (next, previous)
  // are meant to be clicked in a row.
  document.addEventListener("click", (event) => {
    const button = event.detail > 1 && event.target instanceof Element && event.target.closest("button");
    if (!button || button.closest("dialog")) return;
    event.preventDefault();
    event.stopImmediatePropagation();
  }, true);

  // Work that leaving the page would lose (an upload on its way, a form typed and not sent): a page's script
  // registers a test, and the browser asks before a reload, a close or a link away while any test says so.
  const losing = [];
  window.i2vGuardLeaving = (test) => losing.push(test);
  window.addEventListener("beforeunload", (event) => {
    if (!losing.some((test) => test())) return;
    event.preventDefault();
    event.returnValue = ""; // what older Chromium versions read
  });

  function toast(message, isError) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message;
    el.classList.toggle("error", Boolean(isError));
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.textContent = ""; }, 4000);
  }

  // A button that copies its data-copy text (the new API token), saying so.
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    try {
      await navigator.clipboard.writeText(button.dataset.copy);
      toast("Copied.");
    } catch (error) {
      toast("The browser refused the clipboard; select the text and copy it.", true);
    }
  });

  // A Jobs row's URL is its name link (/jobs/<id>/); its actions are sub-paths of it,
  // so rows need not repeat a URL per button.
  function rowUrl(row) {
    return row.querySelector("[data-part=name] a").getAttribute("href");
  }

  document.addEventListener("click", (event) => {
    const star = event.target.closest(ROW + " " + STAR);
    if (!star) return;
    const row = star.closest(ROW);
    htmx.ajax("POST", rowUrl(row) + "favorite", { source: star, target: row, swap: "outerHTML" });
  });

  // Expand / collapse a Jobs row. The detail row is made and loaded on first
  // expand (rows stay small), and collapsing only hides it.
  function detailOf(row) {
    const next = row.nextElementSibling;
    return next && next.classList.contains("detail") ? next : null;
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest(ROW + " " + EXPAND);
    if (!button) return;
    const row = button.closest(ROW);
    let detail = detailOf(row);
    if (!detail) {
      detail = document.createElement("tr");
      detail.className = "detail";
      detail.hidden = true;
      detail.innerHTML = '<td colspan="13"><div class="skeleton-row"></div><div class="skeleton-row"></div></td>';
      row.after(detail);
      // Its own source: htmx runs one request per source at a time and keeps only the last one waiting,
      // so requests sharing the default one (the body) dropped each other (two rows expanded at once).
      htmx.ajax("GET", rowUrl(row), { source: detail.firstElementChild, target: detail.firstElementChild, swap: "innerHTML" });
    }
    detail.hidden = !detail.hidden;
    button.setAttribute("aria-expanded", String(!detail.hidden));
  });

  // A row re-rendered by polling or an action keeps showing its expanded state.
  document.addEventListener("htmx:afterSettle", () => {
    document.querySelectorAll(ROW).forEach((row) => {
      const detail = detailOf(row);
      const button = row.querySelector(EXPAND);
      if (button) button.setAttribute("aria-expanded", String(Boolean(detail && !detail.hidden)));
    });
    updateBulkBar();
  });

  // A pipeline's detail at work (an expanded row, its own page) redraws itself every 3 s, but not
  // where no one would see it (a hidden tab, a collapsed row) nor once the person has worked in it
  // (a step filter, more steps or outputs, picked files): the redraw would undo that. A reload does.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    const live = elt instanceof Element && elt.closest(".detail-body[data-live]");
    if (!live) return;
    if (elt !== live) {
      live.dataset.touched = "";
      htmx.trigger(live, "htmx:abort"); // a redraw on its way would land over what the person asked for
      return;
    }
    const unseen = document.hidden || live.closest("tr.detail[hidden]");
    if (unseen || "touched" in live.dataset || live.querySelector("input:checked")) event.preventDefault();
  });

  // One shared action menu, loaded for the row whose ⋯ was clicked. Opened from the keyboard, focus goes into
  // it (↑ ↓ move, Esc closes and goes back to ⋯); where it would run past the screen's bottom (a phone's last
  // rows), it opens above the ⋯.
  const menu = () => document.getElementById("row-menu");
  let menuOpener = null;
  let menuByKey = false;
  function closeMenu() {
    const pop = menu();
    if (!pop || pop.hidden) return;
    pop.hidden = true;
    pop.innerHTML = "";
    if (menuByKey && menuOpener && menuOpener.isConnected) menuOpener.focus();
    menuOpener = null;
  }
  const menuItems = () => Array.from(menu().querySelectorAll("button:not([disabled]), a[href], input, summary"));
  document.addEventListener("click", (event) => {
    const opener = event.target.closest(ROW + " " + MENU);
    const pop = menu();
    if (!pop) return;
    if (opener) {
      menuOpener = opener;
      menuByKey = event.detail === 0; // Enter or Space, not a pointer
      const box = opener.getBoundingClientRect();
      pop.style.top = window.scrollY + box.bottom + 4 + "px";
      pop.style.left = Math.max(8, window.scrollX + box.right - 280) + "px";
      pop.hidden = false;
      pop.innerHTML = '<div class="skeleton-row"></div>';
      htmx.ajax("GET", rowUrl(opener.closest(ROW)) + "menu", { source: pop, target: pop, swap: "innerHTML" });
      return;
    }
    if (!pop.contains(event.target)) closeMenu();
  });
  document.addEventListener("htmx:afterSettle", (event) => {
    const pop = menu();
    if (!pop || event.detail.target !== pop || !menuOpener) return;
    const box = menuOpener.getBoundingClientRect();
    if (box.bottom + 4 + pop.offsetHeight > window.innerHeight && box.top - 4 - pop.offsetHeight >= 0) {
      pop.style.top = window.scrollY + box.top - 4 - pop.offsetHeight + "px";
    }
    if (menuByKey && !pop.contains(document.activeElement)) (menuItems()[0] || pop).focus();
  });
  document.addEventListener("keydown", (event) => {
    const pop = menu();
    if (event.key === "Escape") {
      // An inline rename is cancelled as its Cancel button would (the typed name was kept, and Enter saved it).
      const rename = event.target instanceof Element && event.target.closest("form.rename");
      if (rename) rename.querySelector("button[type=button]").click();
      closeMenu();
      return;
    }
    if (!pop || pop.hidden || !pop.contains(event.target) || !["ArrowDown", "ArrowUp"].includes(event.key)) return;
    const items = menuItems();
    const at = items.indexOf(event.target);
    const next = items[(at + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length];
    if (next) { event.preventDefault(); next.focus(); }
  });
  // After an action in the menu succeeds, close it: its answer went to the row (redrawn, or its name cell
  // turned into the rename form), not over the other rows. Only "Tags…" answers into the menu itself.
  document.addEventListener("htmx:afterRequest", (event) => {
    const pop = menu();
    const elt = event.detail.elt;
    if (!pop || !pop.contains(elt) || !succeeded(event)) return;
    if (!pop.contains(event.detail.target)) closeMenu();
  });

  // "Show" on the bar of new pipelines (jobs/newer.py) goes with the bar it was in: the keyboard's focus goes to
  // the top row's name, a new one, and the page scrolls there (from far down the list, its bar in view, the row
  // comes back from its spacer first: lists.js keeps rows far from the viewport out of the document).
  let showing = null; // the request of a "Show" on its way
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt instanceof Element && event.detail.elt.matches("#newer button")) showing = event.detail.xhr;
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.xhr !== showing) return;
    showing = null;
    const top = i2vLists.ids(document.getElementById("rows"))[0];
    if (!succeeded(event) || !top || !(document.activeElement === document.body || !document.activeElement)) return;
    if (!document.getElementById(top)) i2vLists.bringBack([top]);
    const link = document.querySelector("#" + top + " [data-part=name] a");
    if (link) link.focus();
  });

  // Rows leaving the list (deleted, or hidden out of its view) or joining it (uploads) move the count
  // above it (totals.total_label), if it counts what they are; an estimate ("about …") is left alone.
  document.addEventListener("totalChanged", (event) => {
    const total = document.querySelector("[data-total]");
    if (!total || "estimate" in total.dataset || event.detail.noun !== total.dataset.noun) return;
    const count = Math.max(0, Number(total.dataset.total) + Number(event.detail.by));
    total.dataset.total = String(count);
    total.textContent = count.toLocaleString("en-US") + " " + total.dataset.noun + (count === 1 ? "" : "s");
  });

  // Selection and the bulk action bar.
  // Kept by pipeline id, not in the checkboxes: rows windowed out of the document
  // (lists.js) are kept as HTML text and count as loaded too, and a row redrawn by
  // a live update keeps its tick. Only loaded rows stay selected (a new filter starts afresh).
  const chosen = new Set();
  const loadedIds = () => i2vLists.ids(document.getElementById("rows"))
    .map((id) => id.replace(/^job-/, ""));
  // A row's own checkbox; an expanded row's output checkboxes (tr.detail, no id) pick files to download.
  const BOX = "#rows " + ROW + " input[type=checkbox]";
  const boxes = () => Array.from(document.querySelectorAll(BOX));
  function selected() {
    return Array.from(chosen);
  }
  function choose(ids, on) {
    ids.forEach((id) => (on ? chosen.add(id) : chosen.delete(id)));
    boxes().forEach((box) => { box.checked = chosen.has(pipelineId(box)); });
  }
  // Rows that left the list (deleted, hidden out of its view, another filter's list) leave the selection;
  // "All" stays ticked while every loaded row is selected.
  function dropUnloaded() {
    const all = document.querySelector("[data-select-all]");
    if (!chosen.size) {
      if (all) all.checked = false;
      return;
    }
    const loaded = new Set(loadedIds());
    chosen.forEach((id) => { if (!loaded.has(id)) chosen.delete(id); });
    if (all) all.checked = chosen.size > 0 && chosen.size === loaded.size;
  }
  function updateBulkBar() {
    const bar = document.getElementById("bulk");
    if (!bar) return;
    dropUnloaded();
    const count = chosen.size;
    bar.hidden = count === 0;
    const label = bar.querySelector("[data-bulk-count]");
    if (label) label.textContent = count + " selected";
    const download = bar.querySelector("[data-bulk-download]");
    if (download) download.href = "/downloads/zip?pipelines=" + selected().join(",");
  }
  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-select-all]")) {
      choose(loadedIds(), event.target.checked);
    } else if (event.target.matches(BOX)) {
      choose([pipelineId(event.target)], event.target.checked);
    }
    if (event.target.matches(BOX + ", [data-select-all]")) updateBulkBar();
  });
  // New rows, and rows back from a spacer or redrawn, show the selection; "All" is unticked by a next page's rows.
  htmx.onLoad((root) => {
    if (!(root instanceof Element)) return;
    root.querySelectorAll(ROW + " input[type=checkbox]").forEach((box) => {
      if (box.closest("#rows")) box.checked = chosen.has(pipelineId(box));
    });
    if (chosen.size && root.closest("#rows")) updateBulkBar();
  });
  function clearSelection() {
    choose(selected(), false);
    updateBulkBar();
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-bulk-clear]")) clearSelection();
    // "Add tag" with nothing typed: the answer says so, and the cursor waits in the field.
    const tagging = event.target.closest("#bulk button[value=tag]");
    const field = tagging && tagging.form.elements.tag;
    // Once the form has gone: htmx forgets the button that sent it when it loses focus.
    if (field && !field.value.trim()) setTimeout(() => field.focus());
  });
  // Enter in the bar's tag field adds the tag: the browser's own Enter clicks the form's first button (Favourite).
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !event.target.matches("#bulk input[name=tag]")) return;
    event.preventDefault();
    event.target.form.querySelector("button[value=tag]").click();
  });
  // Rows carry only a checkbox; the bulk form sends the ids of the selected ones.
  document.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.elt.id !== "bulk") return;
    event.detail.parameters.ids = selected();
  });
  // The selection outlives an action, for the next one on the same rows: the answer has by now redrawn the rows
  // that stay and removed, out of band, those that left the list (views.bulk), which leave the selection here.
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.elt && event.detail.elt.id === "bulk" && succeeded(event)) updateBulkBar();
  });
  // A plain form's button that can't be undone asks first (data-confirm); an htmx form's, below. Asked, the
  // form says so (confirm=1): views that ask send a form without it (no JavaScript) to a confirmation page.
  document.addEventListener("submit", (event) => {
    const question = event.submitter && event.submitter.dataset.confirm;
    if (!question || event.target.hasAttribute("hx-post")) return;
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    if (!event.target.querySelector("input[name=confirm]")) {
      const asked = document.createElement("input");
      asked.type = "hidden";
      asked.name = "confirm";
      asked.value = "1";
      event.target.appendChild(asked);
    }
  });
  // A bulk button that can't be undone asks first (data-confirm): htmx reads hx-confirm from the element
  // that sends the request, the form, never from the button that submitted it.
  document.addEventListener("htmx:confirm", (event) => {
    const submitter = event.detail.triggeringEvent && event.detail.triggeringEvent.submitter;
    const question = submitter && event.detail.elt.id === "bulk" && submitter.dataset.confirm;
    if (!question) return;
    event.preventDefault();
    const count = selected().length;
    if (window.confirm(question.replace("{count}", count === 1 ? "1 pipeline" : `${count} pipelines`))) event.detail.issueRequest(true);
  });

  // Download links that carry a selection (the bulk bar's, the Library's) go as a POST
  // form: a few hundred ids would pass the length a request line may have. The answer is
  // an attachment, so the page stays where it is.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-post-download]");
    if (!link || event.defaultPrevented) return;
    event.preventDefault();
    const url = new URL(link.href, window.location.href);
    const form = document.createElement("form");
    form.method = "post";
    form.action = url.pathname;
    form.hidden = true;
    const fields = [["csrfmiddlewaretoken", JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""]];
    url.searchParams.forEach((value, name) => fields.push([name, value]));
    fields.forEach(([name, value]) => {
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
    form.remove();
  });

  // An expanded row's "Download selected" is usable once a tile is picked.
  document.addEventListener("change", (event) => {
    if (!event.target.matches(".tile-box .pick")) return;
    const form = event.target.form;
    const button = form && form.querySelector("[data-download-picked]");
    // The tiles' checkboxes are the form's elements through their form attribute.
    if (button) button.disabled = !Array.from(form.elements).some((el) => el.classList.contains("pick") && el.checked);
  });

  // Hover: a larger preview of an output, and videos that play under the pointer. A mouse's only: a tap
  // would open a preview over the grid that nothing closes (touch screens have ↗ on each tile instead).
  let preview = null;
  document.addEventListener("pointerover", (event) => {
    const tile = event.pointerType === "mouse" && event.target.closest(".tile");
    if (!tile) return;
    const video = tile.querySelector("video");
    if (video) {
      if (!video.src && video.dataset.src) video.src = video.dataset.src;
      video.play().catch(() => {});
      return;
    }
    if (!tile.dataset.preview) return;
    preview = preview || Object.assign(document.createElement("img"), { className: "preview", alt: "" });
    preview.src = tile.dataset.preview;
    const box = tile.getBoundingClientRect();
    const left = box.right + 620 < window.innerWidth ? box.right + 8 : Math.max(8, box.left - 608);
    preview.style.left = left + "px";
    preview.style.top = Math.max(8, Math.min(box.top, window.innerHeight - 608)) + "px";
    document.body.appendChild(preview);
  });
  document.addEventListener("pointerout", (event) => {
    const tile = event.pointerType === "mouse" && event.target.closest(".tile");
    if (!tile || tile.contains(event.relatedTarget)) return;
    const video = tile.querySelector("video");
    if (video) video.pause();
    if (preview) preview.remove();
  });

  // Tag colours come as data-colour and are set through the CSSOM: the
  // Content-Security-Policy allows no style attributes in the HTML.
  function paintTags(root) {
    if (!(root instanceof Element)) return;
    const chips = root.matches("[data-colour]") ? [root] : [];
    chips.concat(Array.from(root.querySelectorAll("[data-colour]"))).forEach((chip) => {
      chip.style.setProperty("--tag", chip.dataset.colour);
    });
  }
  htmx.onLoad(paintTags);

  // The filter controls show the URL's filters however the page came back: from htmx's history cache (its
  // snapshot is markup, which keeps the options selected when the page was first served), the back-forward
  // cache, or a reload. Otherwise the list is filtered, the controls say it isn't, and the next change drops
  // the filters. A parameter that is absent means the option valued "" (or the first one: Sort's default).
  function syncFilters() {
    const form = document.getElementById("filters");
    if (!form) return;
    const params = new URLSearchParams(window.location.search);
    Array.from(form.elements).forEach((el) => {
      if (!el.name) return;
      const wanted = params.get(el.name);
      if (el.type === "checkbox") {
        el.checked = params.getAll(el.name).includes(el.value);
      } else if (el.tagName === "SELECT") {
        const options = Array.from(el.options);
        const match = options.find((o) => o.value === (wanted ?? "")) || options.find((o) => o.value === "") || options[0];
        if (match) el.value = match.value;
      } else if (el.tagName === "INPUT") {
        el.value = wanted ?? "";
      }
    });
    countFilters();
  }

  // The folded filters' summary says how many are set, as JobsFilterForm.active_filters does on the server
  // from the same controls; the form stays as the list under it changes, so its count is kept here.
  function countFilters() {
    const set = document.querySelector("[data-filter-set]");
    const label = set && set.querySelector("[data-active-filters]");
    if (!label) return;
    const count = Array.from(set.querySelectorAll("[name]")).filter((el) => (el.type === "checkbox" ? el.checked : el.value !== "")).length;
    label.textContent = count ? " · " + count : "";
  }
  document.addEventListener("change", (event) => {
    if (event.target.closest("[data-filter-set]")) countFilters();
  });
  // Esc folds the filters away again (on a narrow screen, where they unfold over the rows), back to their summary.
  document.addEventListener("keydown", (event) => {
    const set = event.key === "Escape" && event.target.closest && event.target.closest("details[data-filter-set][open]");
    if (!set || !set.querySelector("summary").offsetParent) return; // wide, the filters are a line, not folded
    set.open = false;
    set.querySelector("summary").focus();
  });
  syncFilters();
  window.addEventListener("pageshow", syncFilters);
  document.addEventListener("htmx:historyRestore", syncFilters);

  // Errors are designed states, not silence.
  document.addEventListener("htmx:sendError", () => toast("Can't reach the server. Check your connection and try again.", true));
  document.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    toast(status === 404 ? "That pipeline no longer exists." : "Something went wrong (" + status + "). Try again.", true);
  });
})();
