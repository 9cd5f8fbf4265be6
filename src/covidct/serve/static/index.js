// Study list: refreshed every 2 s; retry for failed studies, delete for any.
"use strict";

async function act(url, method) {
  try { await getJSON(url, { method }); } catch (e) { alert(e.message); }
  refresh();
}

function row(s) {
  const actions = el("td");
  if (s.status === "failed")
    actions.append(el("button", { class: "retry", onclick: () => act(`/api/studies/${s.id}/retry`, "POST") }, "retry"), " ");
  actions.append(el("button", { class: "delete", onclick: () => {
    if (confirm("Delete study " + s.filename + "?")) act(`/api/studies/${s.id}`, "DELETE");
  } }, "delete"));
  return el("tr", { "data-id": s.id },
    el("td", {}, el("a", { href: `/studies/${s.id}` }, s.id.slice(0, 8))),
    el("td", {}, s.filename),
    el("td", {}, s.created.replace("T", " ").slice(0, 19)),
    el("td", { class: "status status-" + s.status }, statusText(s)),
    el("td", { class: s.status === "failed" ? "error" : "muted" }, s.status === "failed" ? s.error : (s.step || "")),
    el("td", { class: "num" }, s.status === "done" ? formatValue(s.lesion_fraction, "fraction") : ""),
    actions);
}

async function refresh() {
  try {
    const studies = await getJSON("/api/studies");
    document.querySelector("#studies tbody").replaceChildren(...studies.map(row));
    document.getElementById("empty").hidden = studies.length > 0;
    document.getElementById("list-error").textContent = "";
  } catch (e) {
    document.getElementById("list-error").textContent = "cannot load the list: " + e.message;
  }
}

refresh();
setInterval(refresh, 2000);
