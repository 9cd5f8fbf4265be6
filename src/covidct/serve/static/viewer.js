// Viewer: axial slices as PNG from the API, overlays, window presets, numbers and links.
"use strict";

const $ = (id) => document.getElementById(id);
const studyId = location.pathname.split("/").filter(Boolean).pop();
const state = { k: 0, nz: 1, window: "lung", opacity: 0.4, layers: new Set() };

function sliceURL(k) {
  const overlay = [...state.layers].join(",");
  return `/api/studies/${studyId}/slices/${k}.png?window=${state.window}` +
         `&overlay=${overlay}&opacity=${state.opacity}`;
}

function show(k) {
  state.k = Math.max(0, Math.min(state.nz - 1, k));
  $("slice-img").src = sliceURL(state.k);
  $("slice-slider").value = state.k;
  $("slice-label").textContent = `slice ${state.k + 1} / ${state.nz}`;
  for (const d of [-1, 1]) {  // warm the browser cache for the neighbours
    const n = state.k + d;
    if (n >= 0 && n < state.nz) new Image().src = sliceURL(n);
  }
}

function numberCell(value, unit, key) {
  return el("td", { class: "num", "data-key": key, "data-value": JSON.stringify(value) },
            formatValue(value, unit));
}

function fillNumbers(numbers) {
  $("numbers").tBodies[0].replaceChildren(...numbers.key.map((r) =>
    el("tr", {}, el("th", {}, r.label), numberCell(r.value, r.unit, r.key))));
  $("per-lung").tBodies[0].replaceChildren(...Object.entries(numbers.lungs).map(([side, p]) =>
    el("tr", {}, el("th", {}, side),
       numberCell(p.lung_volume_ml, "ml", side + ".lung_volume_ml"),
       numberCell(p.lesion_volume_ml, "ml", side + ".lesion_volume_ml"),
       numberCell(p.lesion_fraction, "fraction", side + ".lesion_fraction"),
       numberCell(p.ggo_fraction, "fraction", side + ".ggo_fraction"),
       numberCell(p.consolidation_fraction, "fraction", side + ".consolidation_fraction"))));
  $("zones").tBodies[0].replaceChildren(...Object.entries(numbers.zones).map(([side, z]) =>
    el("tr", {}, el("th", {}, side),
       ...["upper", "middle", "lower"].map((n) => numberCell(z[n], "fraction", `zones.${side}.${n}`)))));
}

function fillLinks(study) {
  const items = [];
  if (study.report_html) items.push(el("li", {}, el("a", { href: study.report_html, id: "link-report" }, "report (HTML)")));
  for (const [name, url] of Object.entries(study.links)) {
    if (name === "report.html") continue;
    items.push(el("li", {}, el("a", { href: url, "data-file": name }, name)));
  }
  $("links").replaceChildren(...items);
}

async function startViewer(study) {
  const grid = await getJSON(`/api/studies/${studyId}/volume`);
  const [nz, ny, nx] = grid.shape_zyx;
  const [, sy, sx] = grid.spacing_mm_zyx;
  state.nz = nz;
  const img = $("slice-img");
  img.style.height = Math.round((512 * ny * sy) / (nx * sx)) + "px";
  for (const box of document.querySelectorAll("input.overlay")) {
    const available = grid.layers.includes(box.dataset.layer);
    box.disabled = !available;
    if (!available) box.checked = false;
    if (box.checked) state.layers.add(box.dataset.layer);
    box.addEventListener("change", () => {
      box.checked ? state.layers.add(box.dataset.layer) : state.layers.delete(box.dataset.layer);
      show(state.k);
    });
  }
  $("opacity").addEventListener("input", (e) => { state.opacity = e.target.value / 100; show(state.k); });
  for (const b of document.querySelectorAll("button.window")) {
    b.addEventListener("click", () => {
      state.window = b.dataset.window;
      document.querySelectorAll("button.window").forEach((x) => x.classList.toggle("active", x === b));
      show(state.k);
    });
  }
  const slider = $("slice-slider");
  slider.max = nz - 1;
  slider.addEventListener("input", () => show(Number(slider.value)));
  img.addEventListener("wheel", (e) => { e.preventDefault(); show(state.k + Math.sign(e.deltaY)); },
                       { passive: false });
  document.addEventListener("keydown", (e) => {
    const step = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 }[e.key];
    if (e.target.tagName === "INPUT" && e.target.type === "range" && step !== undefined) return;
    if (step !== undefined) { e.preventDefault(); show(state.k + step); }
    else if (e.key === "Home") show(0);
    else if (e.key === "End") show(state.nz - 1);
  });
  fillNumbers(study.numbers);
  fillLinks(study);
  $("viewer").hidden = false;
  show(Math.floor(nz / 2));
}

async function load() {
  let study;
  try { study = await getJSON(`/api/studies/${studyId}`); }
  catch (e) { $("not-ready").hidden = false; $("job-error").textContent = e.message; return; }
  $("study-name").textContent = study.filename;
  if (study.status === "done") { $("not-ready").hidden = true; return startViewer(study); }
  $("not-ready").hidden = false;
  $("job-status").textContent = statusText(study);
  $("job-status").className = "status status-" + study.status;
  $("steps").replaceChildren(...study.progress.map((p) => el("li", {}, p.step)));
  $("job-error").textContent = study.error || "";
  $("retry").hidden = study.status !== "failed";
  if (study.status !== "failed") setTimeout(load, 1000);
}

$("retry").addEventListener("click", async () => {
  try { await getJSON(`/api/studies/${studyId}/retry`, { method: "POST" }); load(); }
  catch (e) { $("job-error").textContent = e.message; }
});

load();
