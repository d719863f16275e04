// The index page: every site of /info in a table and on a map, with the severity of its latest forecast.

import {
  SEVERITIES,
  TREND_LABELS,
  clear,
  errorText,
  fetchJson,
  forEachLimited,
  horizonOf,
  html,
  layoutWidth,
  legendItem,
  niceTicks,
  redrawOnResize,
  setState,
  setText,
  severityLabel,
  showError,
  svg,
  svgText,
} from "./common.js";

// Latest forecasts asked for at once: enough to fill the table quickly, few enough to spare the service.
const PARALLEL_FORECASTS = 4;
// Sites are labelled on the map only while there are few enough for the labels to stay apart.
const MAX_LABELLED_SITES = 12;

/** The sites' positions on an equirectangular projection of their padded bounding box. */
function projection(sites, width) {
  const lats = sites.map((site) => site.latitude);
  const lons = sites.map((site) => site.longitude);
  const midLat = (Math.min.apply(null, lats) + Math.max.apply(null, lats)) / 2;
  const shrink = Math.max(Math.cos((midLat * Math.PI) / 180), 0.2);
  // In projected degrees (longitude shrunk by cos(latitude)), padded, at least 1 degree across.
  let x0 = Math.min.apply(null, lons) * shrink;
  let x1 = Math.max.apply(null, lons) * shrink;
  let y0 = Math.min.apply(null, lats);
  let y1 = Math.max.apply(null, lats);
  const pad = Math.max((x1 - x0) * 0.12, (y1 - y0) * 0.12, 0.5);
  x0 -= pad;
  x1 += pad;
  y0 -= pad;
  y1 += pad;
  // Keep the frame between 2.5:1 and 1:1 so that one long axis does not squash the other.
  const grow = (low, high, span) => [(low + high) / 2 - span / 2, (low + high) / 2 + span / 2];
  if (y1 - y0 < (x1 - x0) / 2.5) {
    [y0, y1] = grow(y0, y1, (x1 - x0) / 2.5);
  } else if (y1 - y0 > x1 - x0) {
    [x0, x1] = grow(x0, x1, y1 - y0);
  }
  const scale = width / (x1 - x0);
  return {
    width: width,
    height: Math.round((y1 - y0) * scale),
    x: (lon) => (lon * shrink - x0) * scale,
    y: (lat) => (y1 - lat) * scale,
    lonRange: [x0 / shrink, x1 / shrink],
    latRange: [y0, y1],
  };
}

function degreeLabel(value, positive, negative) {
  const rounded = Math.round(Math.abs(value) * 100) / 100;
  return rounded + "\u00b0" + (value >= 0 ? positive : negative);
}

function drawGraticule(map, frame) {
  const grid = svg("g", { "class": "graticule", "aria-hidden": "true" }, map);
  niceTicks(frame.lonRange[0], frame.lonRange[1], Math.max(2, Math.round(frame.width / 140))).forEach((lon) => {
    const x = frame.x(lon);
    svg("line", { x1: x, x2: x, y1: 0, y2: frame.height }, grid);
    svgText(grid, { x: x + 3, y: frame.height - 4, "class": "graticule-label" }, degreeLabel(lon, "E", "W"));
  });
  niceTicks(frame.latRange[0], frame.latRange[1], Math.max(2, Math.round(frame.height / 90))).forEach((lat) => {
    const y = frame.y(lat);
    svg("line", { x1: 0, x2: frame.width, y1: y, y2: y }, grid);
    svgText(grid, { x: 3, y: y - 3, "class": "graticule-label" }, degreeLabel(lat, "N", "S"));
  });
}

function markerLabel(site, state) {
  return site.name + " (" + site.site_id + "): " + state;
}

function drawMarker(map, frame, site, state, labelled) {
  const link = svg(
    "a",
    {
      href: "/sites/" + encodeURIComponent(site.site_id),
      "class": "site-marker",
      "data-site-id": site.site_id,
      "data-severity": state.severity,
      "aria-label": markerLabel(site, state.text),
    },
    map,
  );
  const x = frame.x(site.longitude);
  const y = frame.y(site.latitude);
  svg("circle", { cx: x, cy: y, r: 9, "class": "marker-dot severity-" + state.severity }, link);
  svg("title", {}, link).textContent = markerLabel(site, state.text);
  if (labelled) {
    const anchor = x > frame.width * 0.7 ? "end" : "start";
    svgText(link, { x: anchor === "end" ? x - 13 : x + 13, y: y + 4, "text-anchor": anchor, "class": "marker-label" }, site.site_id);
  }
}

function drawMap(sites, states) {
  const map = document.getElementById("site-map");
  clear(map);
  if (!sites.length) {
    return;
  }
  const frame = projection(sites, layoutWidth(map, 280));
  map.setAttribute("viewBox", "0 0 " + frame.width + " " + frame.height);
  svg("rect", { x: 0, y: 0, width: frame.width, height: frame.height, "class": "map-background" }, map);
  drawGraticule(map, frame);
  const labelled = sites.length <= MAX_LABELLED_SITES;
  sites.forEach((site) => drawMarker(map, frame, site, states[site.site_id], labelled));
}

function updateMarker(site, state) {
  const map = document.getElementById("site-map");
  Array.prototype.forEach.call(map.querySelectorAll(".site-marker"), (link) => {
    if (link.getAttribute("data-site-id") === site.site_id) {
      link.setAttribute("data-severity", state.severity);
      link.setAttribute("aria-label", markerLabel(site, state.text));
      link.querySelector("circle").setAttribute("class", "marker-dot severity-" + state.severity);
      link.querySelector("title").textContent = markerLabel(site, state.text);
    }
  });
}

function drawSeverityLegend() {
  const legend = document.getElementById("severity-legend");
  clear(legend);
  SEVERITIES.forEach((severity) => legendItem(legend, "marker-swatch severity-" + severity, severityLabel(severity)));
  legendItem(legend, "marker-swatch severity-pending", "Not known yet, or the forecast failed");
}

function siteRow(site) {
  const row = html("tr", { "data-site-id": site.site_id });
  const link = html("a", { href: "/sites/" + encodeURIComponent(site.site_id) }, site.site_id);
  row.appendChild(html("th", { scope: "row" })).appendChild(link);
  row.appendChild(html("td", {}, site.name));
  row.appendChild(html("td", { "class": "number" }, Math.round(site.area_km2).toLocaleString("en-US")));
  row.appendChild(html("td", { "class": "severity-cell", "data-severity": "pending" }, "Loading\u2026"));
  row.appendChild(html("td", { "class": "trend-cell" }, "\u2013"));
  row.appendChild(html("td", { "class": "issue-cell" }, "\u2013"));
  return row;
}

function showForecast(row, state, forecast) {
  const cell = row.querySelector(".severity-cell");
  cell.dataset.severity = state.severity;
  cell.textContent = "";
  cell.appendChild(html("span", { "class": "marker-swatch severity-" + state.severity, "aria-hidden": "true" }));
  cell.appendChild(document.createTextNode(state.text));
  if (forecast) {
    row.querySelector(".trend-cell").textContent = TREND_LABELS[forecast.trend] || String(forecast.trend);
    row.querySelector(".issue-cell").textContent = forecast.issue_date + (forecast.stale ? " (stale inputs)" : "");
  }
}

async function loadForecast(site, row, states) {
  try {
    const forecast = await fetchJson("/forecast", { site_id: site.site_id, forecast_days: horizonOf(site) });
    states[site.site_id] = { severity: forecast.severity, text: severityLabel(forecast.severity) };
    showForecast(row, states[site.site_id], forecast);
  } catch (error) {
    states[site.site_id] = { severity: "pending", text: "forecast failed: " + errorText(error) };
    showForecast(row, states[site.site_id], null);
  }
  updateMarker(site, states[site.site_id]);
}

async function main() {
  let info;
  try {
    info = await fetchJson("/info");
  } catch (error) {
    setText("status", "");
    showError("error", error);
    setState("error");
    return;
  }
  const sites = info.sites;
  document.getElementById("synthetic-note").hidden = !info.synthetic_data;
  setText("model-version", "Model " + info.model_version);
  const states = {};
  sites.forEach((site) => {
    states[site.site_id] = { severity: "pending", text: "latest forecast loading" };
  });
  const body = document.querySelector("#sites-table tbody");
  const rows = {};
  sites.forEach((site) => {
    rows[site.site_id] = body.appendChild(siteRow(site));
  });
  drawSeverityLegend();
  const redraw = () => drawMap(sites, states);
  redraw();
  redrawOnResize(document.getElementById("site-map"), redraw);
  setText("status", sites.length + " sites; loading their latest forecasts\u2026");
  await forEachLimited(sites, PARALLEL_FORECASTS, (site) => loadForecast(site, rows[site.site_id], states));
  const failed = sites.filter((site) => states[site.site_id].severity === "pending").length;
  setText("status", sites.length + " sites" + (failed ? "; " + failed + " forecast(s) failed" : ""));
  setState("ready");
}

main().catch((error) => {
  showError("error", error);
  setState("error");
});
