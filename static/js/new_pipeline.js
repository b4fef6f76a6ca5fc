// Sources uploaded on the spot: each file goes to the library's upload API and,
// once accepted, appears ticked among the sources (previewed from the local
// file, since its renditions are still being made by a worker).
(function () {
  "use strict";

  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
  }

  function status(list, name) {
    const item = document.createElement("li");
    item.textContent = name + ": uploading…";
    list.appendChild(item);
    return (text, failed) => {
      item.textContent = name + ": " + text;
      item.classList.toggle("error", Boolean(failed));
    };
  }

  function addSource(id, file) {
    const grid = document.querySelector("[data-testid=sources]");
    const existing = grid.querySelector('input[name=sources][value="' + id + '"]');
    if (existing) {
      existing.checked = true;
      return;
    }
    const label = document.createElement("label");
    label.className = "source";
    const box = Object.assign(document.createElement("input"), { type: "checkbox", name: "sources", value: String(id), checked: true });
    const img = Object.assign(document.createElement("img"), { src: URL.createObjectURL(file), alt: "", width: 96, height: 96 });
    const caption = document.createElement("small");
    caption.textContent = file.name.slice(0, 18);
    label.append(box, img, caption);
    grid.prepend(label);
    box.dispatchEvent(new Event("input", { bubbles: true })); // refresh the live estimate
  }

  async function upload(url, file, report) {
    const body = new FormData();
    body.append("files", file, file.name);
    let response;
    try {
      response = await fetch(url, { method: "POST", body, headers: { "X-CSRFToken": csrfToken() } });
    } catch (error) {
      report("the upload didn't reach the server; try again", true);
      return;
    }
    const data = await response.json().catch(() => ({}));
    const item = data.items && data.items[0];
    if ((response.status === 200 || response.status === 201) && item) {
      if (item.kind !== "image") {
        report("only images can be sources", true);
        return;
      }
      addSource(item.id, file);
      report(item.duplicate ? "already in your library, added" : "added");
      return;
    }
    const error = (item && item.error) || data.error;
    report(error ? error.message : "the upload failed (" + response.status + ")", true);
  }

  // Leaving asks while a file is on its way or the form holds typing that wasn't sent (500 prompts are a lot
  // to type again). Sending the form clears it; a refusal (the form back with its errors) sets it again.
  let uploading = 0;
  let typed = false;
  let sending = false; // typed, and being sent by htmx: kept if the form comes back refused
  const isForm = (el) => el.matches("form.new-pipeline");
  window.i2vGuardLeaving(() => uploading > 0 || typed);
  document.addEventListener("input", (event) => {
    if (event.target.closest("form.new-pipeline") && event.target.matches("input[type=text], input:not([type]), textarea")) typed = true;
  });
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (!isForm(event.detail.elt)) return; // the estimate's requests send nothing for good
    sending = typed;
    typed = false;
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    // Only a refusal swaps the form (with its errors) in place; one taken goes to Jobs.
    if (event.detail.target.id !== "new-pipeline") return;
    typed = typed || sending;
    showFirstError(event.detail.target);
  });
  // The button is at the form's bottom and the first error may be a screen above it ("Choose at least one source
  // image."): a refusal that looked like nothing happened. It is scrolled to, and its field takes the cursor.
  function showFirstError(form) {
    const error = form.querySelector("p.error[role=alert], p.error[data-field]");
    if (!error) return;
    error.scrollIntoView({ block: "center" });
    const named = error.dataset.field && form.querySelector("form").elements[error.dataset.field];
    const field = named && (named instanceof RadioNodeList ? named[0] : named);
    if (field) field.focus({ preventScroll: true });
  }
  document.addEventListener("submit", (event) => {
    if (isForm(event.target) && !event.defaultPrevented) typed = false; // without htmx: the page leaves to send it
  });

  document.addEventListener("change", async (event) => {
    const input = event.target.closest("[data-source-upload]");
    if (!input) return;
    const list = document.querySelector("[data-source-uploads]");
    uploading += 1;
    try {
      for (const file of Array.from(input.files)) {
        await upload(input.dataset.sourceUpload, file, status(list, file.name));
      }
    } finally {
      uploading -= 1;
    }
    input.value = "";
  });
})();
