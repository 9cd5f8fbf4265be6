// covidct serve: helpers shared by the pages (no external libraries).
"use strict";

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error((body && body.detail) || response.statusText);
  return body;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// One home for number formats: fractions as percent, volumes in ml.
function formatValue(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "fraction") return (100 * value).toFixed(1) + " %";
  if (unit === "ml") return value.toFixed(0) + " ml";
  return String(value);
}

function statusText(study) {
  if (study.status === "queued" && study.queue_position)
    return "queued (" + study.queue_position + " in line)";
  return study.status;
}
