// Upload page: XMLHttpRequest for upload progress, then polls the study's analysis steps.
"use strict";

const $ = (id) => document.getElementById(id);

function showStudy(study) {
  const status = $("job-status");
  status.textContent = statusText(study);
  status.className = "status status-" + study.status;
  $("steps").replaceChildren(...study.progress.map((p) => el("li", {}, p.step)));
  $("job-error").textContent = study.status === "failed" ? study.error : "";
  $("retry").hidden = study.status !== "failed";
  const link = $("open-viewer");
  link.hidden = study.status !== "done";
  link.href = `/studies/${study.id}`;
}

let currentId = null;

async function follow(id) {
  currentId = id;
  let study;
  try { study = await getJSON(`/api/studies/${id}`); }
  catch (e) { $("job-error").textContent = e.message; return; }
  showStudy(study);
  if (study.status === "queued" || study.status === "running") setTimeout(() => follow(id), 1000);
}

function upload(file) {
  $("upload-state").hidden = false;
  $("send").disabled = true;
  const form = new FormData();
  form.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/studies");
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    const pct = Math.round((100 * e.loaded) / e.total);
    $("upload-progress").value = pct;
    $("upload-percent").textContent = pct + " %";
  };
  xhr.onload = () => {
    $("send").disabled = false;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status !== 201) {
      $("job-status").textContent = "upload refused";
      $("job-error").textContent = body.detail || xhr.statusText;
      return;
    }
    $("upload-progress").value = 100;
    $("upload-percent").textContent = "100 %";
    history.replaceState(null, "", "/upload?study=" + body.id);
    follow(body.id);
  };
  xhr.onerror = () => {
    $("send").disabled = false;
    $("job-error").textContent = "the upload failed (connection lost or file too large)";
  };
  xhr.send(form);
}

$("retry").addEventListener("click", async () => {
  try { await getJSON(`/api/studies/${currentId}/retry`, { method: "POST" }); follow(currentId); }
  catch (e) { $("job-error").textContent = e.message; }
});

$("upload-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const file = $("file").files[0];
  if (file) upload(file);
});

const resume = new URLSearchParams(location.search).get("study");
if (resume) { $("upload-state").hidden = false; follow(resume); }
