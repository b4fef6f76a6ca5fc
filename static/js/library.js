// The Library page's own behaviour: selecting tiles (click, shift-click, select
// all loaded) for a new pipeline or for deleting, and drag-and-drop uploads with a row per file.
// The grid, filters and infinite scroll are htmx; tiles still processing are
// watched, and far ones windowed, by lists.js; hover previews come from app.js
// (tiles carry data-preview).
(function () {
  "use strict";

  const zone = document.getElementById("uploader");
  if (!zone) return;

  // --- Selection --------------------------------------------------------------
  // Kept by id, not in the checkboxes: a watched tile is redrawn as a new one,
  // and a filter change replaces the whole grid; the selection survives both.
  const selected = new Set();
  let anchor = null; // id of the last tile clicked: one end of the next shift-click range

  // Tiles windowed out of the document (lists.js) count as loaded too: their ids, in order.
  const loadedIds = () => i2vLists.ids(document.getElementById("grid"))
    .filter((id) => /^asset-\d+$/.test(id)).map((id) => id.slice("asset-".length));

  function pick(ids, on) {
    ids.forEach((id) => (on ? selected.add(id) : selected.delete(id)));
    document.querySelectorAll("#grid .pick").forEach((box) => { box.checked = selected.has(box.value); });
  }

  function updateBar() {
    const bar = document.getElementById("selection");
    bar.hidden = selected.size === 0;
    bar.querySelector("[data-selection-count]").textContent = selected.size + " selected";
    bar.querySelector("[data-new-pipeline]").href = "/pipelines/new?assets=" + Array.from(selected).join(",");
    bar.querySelector("[data-download-selected]").href = "/downloads/zip?assets=" + Array.from(selected).join(",");
    const one = selected.size === 1;
    bar.querySelector("[data-delete-selected]").setAttribute(
      "hx-confirm",
      "Delete " + selected.size + (one ? " asset? Its file is" : " assets? Their files are") +
        " removed for good, pipelines that made " + (one ? "it" : "them") + " no longer show " + (one ? "it" : "them") +
        ", and pipelines started from " + (one ? "it" : "them") + " can't be rerun."
    );
  }

  // The delete button sends the selection (kept here, not in a form); the answer
  // removes the deleted tiles out of band, and the selection is done with.
  document.body.addEventListener("htmx:configRequest", (event) => {
    if (event.detail.elt.matches("[data-delete-selected]")) event.detail.parameters.ids = Array.from(selected);
  });
  document.body.addEventListener("htmx:afterRequest", (event) => {
    if (!event.detail.elt.matches("[data-delete-selected]") || !i2vSucceeded(event)) return;
    selected.clear();
    anchor = null;
    updateBar();
  });

  document.addEventListener("click", (event) => {
    const tile = event.target.closest("#grid .asset");
    if (!tile || event.target.closest("a, button")) return;
    const box = tile.querySelector(".pick");
    if (!box) return; // a just-uploaded tile still loading
    // A click on the checkbox itself has already toggled it; anywhere else on the tile toggles it here.
    const on = event.target === box ? box.checked : !box.checked;
    const ids = loadedIds();
    const from = ids.indexOf(anchor);
    if (event.shiftKey && from !== -1) {
      const [start, end] = [from, ids.indexOf(box.value)].sort((a, b) => a - b);
      pick(ids.slice(start, end + 1), on);
      window.getSelection().removeAllRanges(); // shift-click also selects page text
    } else {
      pick([box.value], on);
    }
    anchor = box.value;
    updateBar();
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-select-loaded]")) {
      pick(loadedIds(), true);
      updateBar();
    } else if (event.target.closest("[data-selection-clear]")) {
      pick(Array.from(selected), false);
      anchor = null;
      updateBar();
    }
  });

  // New or re-rendered tiles show the selection, and their upload row shows their status.
  htmx.onLoad((root) => {
    if (!(root instanceof Element)) return;
    const tiles = root.matches(".asset") ? [root] : Array.from(root.querySelectorAll(".asset"));
    tiles.forEach((tile) => {
      const box = tile.querySelector(".pick");
      if (box) box.checked = selected.has(box.value);
      showProcessing(tile);
    });
  });

  // A tile whose asset has gone (deleted elsewhere) leaves the grid; app.js's
  // generic toast would name the wrong thing.
  document.body.addEventListener("htmx:responseError", (event) => {
    const elt = event.detail.elt;
    const tile = elt && elt.closest && elt.closest("#grid .asset");
    if (!tile) return;
    event.stopPropagation();
    if (elt.matches("[data-retry]")) {
      const message = tile.querySelector(".tile-error small");
      if (message) message.textContent = "Retry failed (" + event.detail.xhr.status + "). Try again later.";
    } else if (event.detail.xhr.status === 404) {
      tile.remove();
    }
  });

  // --- Uploads ----------------------------------------------------------------
  // One request per file, one file at a time, each with its own row: a progress
  // bar while it uploads (XMLHttpRequest reports upload progress; fetch does not),
  // then the processing status of its tile, which lists.js keeps up to date. One at a time
  // because the link's bandwidth is the limit either way, and so the first tiles
  // arrive sooner and the others wait their turn visibly.
  const queue = [];
  let busy = false;
  window.i2vGuardLeaving(() => busy || queue.length > 0); // a reload would drop the files not yet sent
  const input = document.getElementById("upload-input");
  // Buttons, not labels of the hidden input: a label takes no keyboard focus.
  document.querySelectorAll("[data-choose-files]").forEach((button) => button.addEventListener("click", () => input.click()));
  const list = document.getElementById("uploads");
  const maxBytes = Number(zone.dataset.maxBytes);

  function tileUrl(id) {
    return zone.dataset.tileUrl.replace("/0/", "/" + id + "/");
  }

  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  }

  function megabytes(n) {
    return (n / 1048576).toFixed(n < 10485760 ? 1 : 0) + " MB";
  }

  function addRow(file) {
    const row = document.createElement("li");
    row.className = "upload";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    name.title = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const status = document.createElement("span");
    status.className = "upload-status";
    row.append(name, bar, status);
    list.append(row);
    list.parentElement.querySelector(".uploads-head").hidden = false;
    setRow(row, "waiting", "Waiting…");
    return row;
  }

  function setRow(row, state, text) {
    row.dataset.state = state;
    row.querySelector(".upload-status").textContent = text;
    if (state !== "uploading" && state !== "waiting") row.querySelector("progress").value = 100;
    summarise();
  }

  function summarise() {
    const rows = Array.from(list.children);
    const count = (state) => rows.filter((r) => r.dataset.state === state).length;
    const sending = count("waiting") + count("uploading");
    // Refused: failed without the server taking it (a row the server took has its asset id).
    const refused = rows.filter((r) => r.dataset.state === "failed" && !r.dataset.assetId).length;
    const already = rows.filter((r) => "duplicate" in r.dataset).length; // sent, not stored again
    const stored = rows.length - refused - already;
    const sent = stored === rows.length ? "All uploaded" : stored ? `${stored} of ${rows.length} uploaded` : refused ? "None uploaded" : "Nothing new";
    // Each file is counted once in the first parts (uploaded, already there, refused), and each taken one once
    // in the last (processing, or failed processing): a duplicate whose processing failed was counted twice.
    const parts = [
      sending ? sending + " uploading" : sent, already && already + " already in your library", refused && refused + " refused",
      count("processing") + " processing", count("failed") - refused + " failed",
    ];
    zone.querySelector("[data-upload-summary]").textContent = parts.filter(Boolean).join(" · ");
  }

  function enqueue(files) {
    Array.from(files).forEach((file) => {
      const row = addRow(file);
      if (file.size > maxBytes) {
        setRow(row, "failed", "Too large (" + megabytes(file.size) + "); the limit is " + megabytes(maxBytes) + ".");
        return;
      }
      queue.push({ file, row });
    });
    pump();
  }

  function pump() {
    if (busy || !queue.length) return;
    busy = true;
    upload(queue.shift()).then(() => {
      busy = false;
      pump();
    });
  }

  function upload({ file, row }) {
    return new Promise((resolve) => {
      const body = new FormData();
      body.append("files", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", zone.dataset.uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) row.querySelector("progress").value = Math.round((event.loaded / event.total) * 100);
      });
      xhr.addEventListener("load", () => {
        const retry = { headers: xhr.getResponseHeader("Retry-After"), job: { file, row } };
        Promise.resolve(accepted(row, xhr.status, xhr.response, retry)).then(resolve);
      });
      xhr.addEventListener("error", () => {
        setRow(row, "failed", "The upload didn't reach the server. Check your connection and try again.");
        resolve();
      });
      setRow(row, "uploading", "Uploading…");
      xhr.send(body);
    });
  }

  function accepted(row, status, response, retry) {
    if (status === 429 && retry) {
      // Over the upload rate limit: wait as long as the server says, then send it again.
      const wait = Number(retry.headers) || 5;
      setRow(row, "waiting", "Waiting " + wait + " s (upload limit)…");
      return new Promise((resolve) => setTimeout(resolve, wait * 1000)).then(() => upload(retry.job));
    }
    const item = response && response.items && response.items[0];
    if ((status === 200 || status === 201) && item) {
      row.dataset.assetId = item.id;
      if (item.duplicate) row.dataset.duplicate = "";
      if (item.hidden) {
        // Hidden earlier: it stays so, and out of a grid that doesn't show hidden ones.
        setRow(row, "done", "Already in your library, hidden (the Hidden filter shows it)");
        const grid = document.getElementById("grid");
        if (grid && grid.dataset.hiddenFilter) showTile(item.id);
        return;
      }
      setRow(row, "processing", item.duplicate ? "Already in your library" : "Uploaded · processing…");
      showTile(item.id);
      // A new asset joins the count above the grid (app.js); a duplicate was counted already.
      if (!item.duplicate) document.dispatchEvent(new CustomEvent("totalChanged", { detail: { by: 1, noun: "asset" } }));
      return;
    }
    const error = (item && item.error) || (response && response.error);
    setRow(row, "failed", error ? error.message : "The upload failed (" + status + "). Try again.");
  }

  // The new tile goes to the top of the grid (a tile already there moves up).
  function showTile(id) {
    const grid = document.getElementById("grid");
    if (!grid) return;
    document.querySelectorAll("[data-empty]").forEach((el) => el.remove());
    let tile = document.getElementById("asset-" + id);
    if (tile) {
      grid.prepend(tile);
      showProcessing(tile);
      return;
    }
    tile = document.createElement("li");
    tile.id = "asset-" + id;
    tile.className = "asset tile s-pending";
    tile.innerHTML = '<div class="skeleton-tile"></div>';
    grid.prepend(tile);
    // Each tile its own source: htmx runs one request per source and keeps only the last one waiting, so
    // tiles asked for through the default one (the body) while another was on its way stayed skeletons.
    htmx.ajax("GET", tileUrl(id), { source: tile, target: tile, swap: "outerHTML" });
  }

  // An upload row follows its tile's status, which lists.js keeps up to date. A duplicate's row keeps
  // saying so: the file was not stored again, and "Ready" alone would hide that.
  function showProcessing(tile) {
    const status = tile.dataset.status;
    if (!status) return;
    list.querySelectorAll('.upload[data-asset-id="' + tile.id.replace("asset-", "") + '"]').forEach((row) => {
      const duplicate = "duplicate" in row.dataset;
      if (status === "complete") setRow(row, "done", duplicate ? "Already in your library" : "Ready");
      else if (status === "failed") setRow(row, "failed", (duplicate ? "Already in your library" : "Uploaded") + ", but processing failed: see its tile.");
      else if (row.dataset.state !== "processing") setRow(row, "processing", duplicate ? "Already in your library · processing…" : "Processing…");
    });
  }

  input.addEventListener("change", () => {
    enqueue(input.files);
    input.value = "";
  });
  zone.querySelector("[data-uploads-clear]").addEventListener("click", () => {
    list.querySelectorAll('.upload[data-state="done"], .upload[data-state="failed"]').forEach((row) => row.remove());
    if (!list.children.length) zone.querySelector(".uploads-head").hidden = true;
    else summarise();
  });

  // Files may be dropped anywhere on the page; the drop zone lights up meanwhile.
  const carriesFiles = (event) => event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files");
  document.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("dragging");
  });
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) zone.classList.remove("dragging");
  });
  document.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    zone.classList.remove("dragging");
    enqueue(event.dataTransfer.files);
  });
})();
