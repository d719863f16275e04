// The site page: observed flow, the forecast's median and 50 % / 90 % bands, flood thresholds and skill,
// for the latest forecast or, with ?issue_date=YYYY-MM-DD, a hindcast with what the river did.

import {
  DAY_MS,
  TREND_LABELS,
  addDays,
  clear,
  errorText,
  fetchJson,
  formatFlow,
  formatPercent,
  formatScore,
  horizonOf,
  html,
  layoutWidth,
  legendItem,
  linearScale,
  niceCeiling,
  niceTicks,
  parseDay,
  redrawOnResize,
  setState,
  setText,
  severityLabel,
  shortDay,
  showError,
  svg,
  svgText,
} from "./common.js";

// Days of observed flow shown before the issue date, the issue date included.
const HISTORY_DAYS = 90;
const RETURN_PERIODS = ["2", "5", "10"];
// Day steps the time axis may take, and the least room (CSS px) a date label needs.
const DAY_STEPS = [1, 2, 5, 7, 14, 28, 56];
const PX_PER_DATE_LABEL = 90;
// The forecast days get at least this share of the chart's width: on a linear time axis five days
// after ninety would be a sliver, invisible at phone width. The break is drawn at the issue date.
const MIN_FORECAST_SHARE = 0.22;

/** Dates to x: linear over the observed days, and over the (possibly stretched) forecast days. */
function timeScale(start, issue, end, left, right) {
  const natural = (end - issue) / (end - start);
  const split = right - Math.max(natural, MIN_FORECAST_SHARE) * (right - left);
  const history = linearScale([start, issue], [left, split]);
  const future = linearScale([issue, end], [split, right]);
  const scale = (ms) => (ms <= issue ? history(ms) : future(ms));
  scale.split = split;
  scale.stretched = natural < MIN_FORECAST_SHARE;
  return scale;
}

/** An SVG path through points [x, y], broken where a point is null (a missing day). */
function linePath(points) {
  let path = "";
  let drawing = false;
  points.forEach((point) => {
    if (point === null) {
      drawing = false;
      return;
    }
    path += (drawing ? " L" : " M") + point[0].toFixed(1) + " " + point[1].toFixed(1);
    drawing = true;
  });
  return path.trim();
}

/** The points of a band between two quantiles, as an SVG polygon's "points". */
function bandPoints(days, low, high, x, y, anchor) {
  const lower = days.map((day) => [x(day.ms), y(day.quantiles[low])]);
  const upper = days.map((day) => [x(day.ms), y(day.quantiles[high])]).reverse();
  const start = anchor ? [[x(anchor.ms), y(anchor.flow)]] : [];
  return start.concat(lower, upper).map((point) => point[0].toFixed(1) + "," + point[1].toFixed(1)).join(" ");
}

/** The forecast days with their dates in milliseconds. */
function forecastDays(forecast) {
  return forecast.forecast.map((day) => ({
    ms: parseDay(day.date),
    date: day.date,
    lead: day.lead_days,
    flow: day.flow,
    quantiles: day.quantiles,
    exceedance: day.exceedance,
    observed: day.observed,
  }));
}

function observedPoints(observations) {
  return observations.map((entry) => ({ ms: parseDay(entry.date), flow: entry.flow }));
}

function chartFrame(element, model) {
  const width = layoutWidth(element, 280);
  const height = Math.round(Math.min(440, Math.max(260, width * 0.55)));
  const margin = { top: 18, right: 12, bottom: 34, left: width < 480 ? 44 : 56 };
  const issueMs = parseDay(model.forecast.issue_date);
  const days = model.days;
  const start = issueMs - (HISTORY_DAYS - 1) * DAY_MS;
  const end = days.length ? days[days.length - 1].ms : issueMs + DAY_MS;
  const values = [];
  model.observed.forEach((point) => values.push(point.flow));
  days.forEach((day) => {
    values.push(day.quantiles["0.95"], day.quantiles["0.5"], day.flow, day.observed);
  });
  RETURN_PERIODS.forEach((years) => values.push(model.thresholds ? model.thresholds[years] : null));
  const top = niceCeiling(Math.max.apply(null, values.filter((value) => value !== null && isFinite(value)).concat([0])) * 1.05);
  return {
    width: width,
    height: height,
    margin: margin,
    start: start,
    end: end,
    issueMs: issueMs,
    forecastDays: days.map((day) => day.ms),
    x: timeScale(start, issueMs, end, margin.left, width - margin.right),
    y: linearScale([0, top], [height - margin.bottom, margin.top]),
    top: top,
  };
}

function drawAxes(chart, frame) {
  const grid = svg("g", { "class": "axis y-axis", "aria-hidden": "true" }, chart);
  niceTicks(0, frame.top, Math.max(3, Math.round((frame.height - 60) / 50))).forEach((value) => {
    const y = frame.y(value);
    svg("line", { x1: frame.margin.left, x2: frame.width - frame.margin.right, y1: y, y2: y, "class": "grid-line" }, grid);
    svgText(grid, { x: frame.margin.left - 6, y: y + 4, "text-anchor": "end", "class": "tick-label" }, formatFlow(value));
  });
  svgText(grid, { x: 4, y: 12, "class": "axis-title" }, "m\u00b3/s");
  const time = svg("g", { "class": "axis x-axis", "aria-hidden": "true" }, chart);
  const baseline = frame.height - frame.margin.bottom;
  svg("line", { x1: frame.margin.left, x2: frame.width - frame.margin.right, y1: baseline, y2: baseline, "class": "axis-line" }, time);
  const tick = (ms, label, anchor) => {
    const x = frame.x(ms);
    svg("line", { x1: x, x2: x, y1: baseline, y2: baseline + 5, "class": "axis-line" }, time);
    if (label) {
      svgText(time, { x: x, y: baseline + 19, "text-anchor": anchor, "class": "tick-label" }, label);
    }
  };
  // Observed days: ticks count back from the issue date, so that the issue date is always labelled.
  const spanDays = Math.round((frame.issueMs - frame.start) / DAY_MS);
  const room = Math.max(1, Math.floor((frame.x.split - frame.margin.left) / PX_PER_DATE_LABEL));
  const step = DAY_STEPS.find((candidate) => spanDays / candidate <= room) || DAY_STEPS[DAY_STEPS.length - 1];
  const ticks = [];
  for (let ms = frame.issueMs; ms >= frame.start; ms -= step * DAY_MS) {
    ticks.unshift(ms);
  }
  ticks.forEach((ms, index) => tick(ms, shortDay(ms, index === 0), "middle"));
  // Forecast days: a tick each, labelled when there is room for every label, else the last one alone.
  const days = frame.forecastDays;
  const perDay = (frame.width - frame.margin.right - frame.x.split) / Math.max(days.length, 1);
  days.forEach((ms, index) => {
    const last = index === days.length - 1;
    const label = perDay >= PX_PER_DATE_LABEL * 0.6 || (last && perDay * days.length >= PX_PER_DATE_LABEL * 1.2);
    tick(ms, label ? shortDay(ms, false) : "", last ? "end" : "middle");
  });
}

function drawForecastZone(chart, frame) {
  const x0 = frame.x(frame.issueMs);
  const x1 = frame.width - frame.margin.right;
  svg("rect", {
    id: "forecast-zone",
    x: x0,
    y: frame.margin.top,
    width: Math.max(0, x1 - x0),
    height: frame.height - frame.margin.top - frame.margin.bottom,
    "class": "forecast-zone",
  }, chart);
  svg("line", { id: "issue-line", x1: x0, x2: x0, y1: frame.margin.top, y2: frame.height - frame.margin.bottom, "class": "issue-line" }, chart);
  svgText(chart, { x: x0 - 4, y: frame.margin.top + 12, "text-anchor": "end", "class": "zone-label" }, "issued");
  svgText(chart, { x: x0 + 4, y: frame.margin.top + 12, "class": "zone-label" }, "forecast");
}

function drawThresholds(chart, frame, thresholds) {
  if (!thresholds) {
    return;
  }
  RETURN_PERIODS.forEach((years) => {
    const flow = thresholds[years];
    if (flow === null || flow === undefined) {
      return;
    }
    const y = frame.y(flow);
    const group = svg("g", { "class": "threshold", "data-years": years }, chart);
    svg("line", {
      x1: frame.margin.left,
      x2: frame.width - frame.margin.right,
      y1: y,
      y2: y,
      "class": "threshold-line threshold-" + years,
      "data-years": years,
    }, group);
    svgText(group, { x: frame.margin.left + 4, y: y - 4, "class": "threshold-label" }, years + "-year flood " + formatFlow(flow));
  });
}

function drawForecast(chart, frame, model) {
  const days = model.days;
  if (!days.length) {
    return;
  }
  const x = frame.x;
  const y = frame.y;
  const anchor = model.issueObserved;
  svg("polygon", { id: "band-90", "class": "band band-90", points: bandPoints(days, "0.05", "0.95", x, y, anchor) }, chart);
  svg("polygon", { id: "band-50", "class": "band band-50", points: bandPoints(days, "0.25", "0.75", x, y, anchor) }, chart);
  const median = (anchor ? [[x(anchor.ms), y(anchor.flow)]] : []).concat(days.map((day) => [x(day.ms), y(day.quantiles["0.5"])]));
  svg("path", { id: "median-line", "class": "line median-line", d: linePath(median) }, chart);
}

function drawObserved(chart, frame, model) {
  if (model.observed.length) {
    const points = model.observed.map((point) => (point.flow === null ? null : [frame.x(point.ms), frame.y(point.flow)]));
    svg("path", { id: "observed-line", "class": "line observed-line", d: linePath(points) }, chart);
  }
  if (!model.forecast.hindcast) {
    return;
  }
  const after = model.days.map((day) => (day.observed === null || day.observed === undefined ? null : [frame.x(day.ms), frame.y(day.observed)]));
  const anchor = model.issueObserved ? [[frame.x(model.issueObserved.ms), frame.y(model.issueObserved.flow)]] : [];
  const group = svg("g", { id: "hindcast-observed", "class": "hindcast-observed" }, chart);
  svg("path", { id: "hindcast-observed-line", "class": "line hindcast-observed-line", d: linePath(anchor.concat(after)) }, group);
  after.filter((point) => point !== null).forEach((point) => {
    svg("circle", { cx: point[0], cy: point[1], r: 3.5, "class": "hindcast-observed-dot" }, group);
  });
}

function drawChart(model) {
  const chart = document.getElementById("hydrograph");
  clear(chart);
  const frame = chartFrame(chart, model);
  chart.setAttribute("viewBox", "0 0 " + frame.width + " " + frame.height);
  drawForecastZone(chart, frame);
  drawAxes(chart, frame);
  drawForecast(chart, frame, model);
  drawThresholds(chart, frame, model.thresholds);
  drawObserved(chart, frame, model);
}

function drawLegend(model) {
  const legend = document.getElementById("chart-legend");
  clear(legend);
  if (model.observed.length) {
    legendItem(legend, "swatch-observed", "Observed flow");
  }
  legendItem(legend, "swatch-median", "Forecast median");
  legendItem(legend, "swatch-band-50", "50\u00a0% range (25th to 75th percentile)");
  legendItem(legend, "swatch-band-90", "90\u00a0% range (5th to 95th percentile)");
  if (model.forecast.hindcast) {
    legendItem(legend, "swatch-hindcast-observed", "Observed over the hindcast days");
  }
  if (model.thresholds) {
    legendItem(legend, "swatch-threshold", "Flood thresholds (2-, 5- and 10-year return periods)");
  }
}

function thresholdNote(site, thresholds) {
  const described = site.flood_thresholds;
  if (!thresholds) {
    const reason = described && described.reason ? described.reason : "the service gives none for this site";
    return "No flood-threshold lines: " + reason + ".";
  }
  const values = RETURN_PERIODS.map((years) => years + "-year " + formatFlow(thresholds[years])).join(", ");
  const source = described ? " (" + described.method + ", from " + described.years + " years of observed flow)" : "";
  return "Flood thresholds: " + values + " m\u00b3/s" + source + ".";
}

function forecastHeader(model) {
  const cells = ["Date", "Lead day", "Forecast", "Median", "50\u00a0% range", "90\u00a0% range"];
  if (model.forecast.hindcast) {
    cells.push("Observed");
  }
  if (model.hasExceedance) {
    RETURN_PERIODS.forEach((years) => cells.push("Chance above " + years + "-year"));
  }
  const row = html("tr");
  cells.forEach((label, index) => row.appendChild(html("th", index > 1 ? { scope: "col", "class": "number" } : { scope: "col" }, label)));
  return row;
}

function forecastRow(model, day) {
  const q = day.quantiles;
  const row = html("tr", { "data-lead-days": day.lead });
  row.appendChild(html("th", { scope: "row" }, day.date));
  const cells = [
    String(day.lead),
    formatFlow(day.flow),
    formatFlow(q["0.5"]),
    formatFlow(q["0.25"]) + "\u2013" + formatFlow(q["0.75"]),
    formatFlow(q["0.05"]) + "\u2013" + formatFlow(q["0.95"]),
  ];
  if (model.forecast.hindcast) {
    cells.push(formatFlow(day.observed));
  }
  if (model.hasExceedance) {
    RETURN_PERIODS.forEach((years) => cells.push(formatPercent(day.exceedance ? day.exceedance[years] : null)));
  }
  cells.forEach((text, index) => row.appendChild(html("td", index > 0 ? { "class": "number" } : {}, text)));
  return row;
}

function fillForecastTable(model) {
  const table = document.getElementById("forecast-table");
  clear(table.tHead);
  clear(table.tBodies[0]);
  table.tHead.appendChild(forecastHeader(model));
  model.days.forEach((day) => table.tBodies[0].appendChild(forecastRow(model, day)));
  document.getElementById("forecast-caption").textContent =
    (model.forecast.hindcast ? "Hindcast" : "Forecast") + " issued " + model.forecast.issue_date + ", flow in m\u00b3/s";
}

function fillSkillTable(site, verification) {
  const body = document.querySelector("#skill-table tbody");
  clear(body);
  const test = site.test_nse || {};
  const live = {};
  (verification ? verification.rolling : []).forEach((scores) => {
    live[String(scores.lead_days)] = scores;
  });
  const leads = Object.keys(test).concat(Object.keys(live).filter((lead) => !(lead in test)));
  leads.sort((a, b) => Number(a) - Number(b));
  leads.forEach((lead) => {
    const scores = live[lead];
    const row = html("tr", { "data-lead-days": lead });
    row.appendChild(html("th", { scope: "row" }, lead));
    [
      formatScore(test[lead]),
      formatScore(scores ? scores.nse : null),
      formatScore(scores ? scores.persistence_nse : null),
      scores ? String(scores.pairs) : "\u2013",
    ].forEach((text) => row.appendChild(html("td", { "class": "number" }, text)));
    body.appendChild(row);
  });
}

function summaryText(model) {
  const forecast = model.forecast;
  const severity = "Severity: " + severityLabel(forecast.severity) + ". Trend: " + (TREND_LABELS[forecast.trend] || forecast.trend) + ".";
  const stale = forecast.stale ? " Some inputs were stale (cached " + Math.round(forecast.stale_age_s / 60) + " minutes ago)." : "";
  if (forecast.hindcast) {
    return "Hindcast as if issued on " + forecast.issue_date + ": the model saw flow only up to that day; " +
      "the dots show what the river did. " + severity + stale;
  }
  return "Forecast issued " + forecast.issue_date + ", the last day of observed flow. " + severity + stale;
}

function showSite(site, synthetic) {
  document.getElementById("site-name").textContent = site.name;
  document.title = site.name + ": streamflow forecast";
  const period = site.data_period || {};
  setText(
    "site-meta",
    "Site " + site.site_id + " \u00b7 " + Math.round(site.area_km2).toLocaleString("en-US") + " km\u00b2 \u00b7 " +
      site.latitude.toFixed(3) + ", " + site.longitude.toFixed(3) +
      (period.start ? " \u00b7 trained on flow from " + period.start + " to " + period.end : ""),
  );
  document.getElementById("synthetic-note").hidden = !synthetic;
  const input = document.getElementById("issue-date");
  if (period.start) {
    input.min = period.start;
  }
}

async function loadObservations(siteId, issueDate) {
  try {
    const answer = await fetchJson("/observations", {
      site_id: siteId,
      start: addDays(issueDate, -(HISTORY_DAYS - 1)),
      end: issueDate,
    });
    setText("observations-note", "");
    return observedPoints(answer.observations);
  } catch (error) {
    setText("observations-note", "Observed flow is not shown: " + errorText(error));
    return [];
  }
}

function liveSkillNote(verification) {
  const scored = verification.rolling.some((scores) => scores.pairs > 0);
  const period = verification.window || {};
  if (!scored) {
    return "No forecast this service issued has been scored against the river yet: live skill is not known.";
  }
  return "Live skill over the forecasts issued " + period.first_issue + " to " + period.last_issue +
    " (scores need enough pairs; \u2013 where there are too few).";
}

async function loadVerification(siteId) {
  try {
    const verification = await fetchJson("/verification", { site_id: siteId });
    setText("skill-note", liveSkillNote(verification));
    return verification;
  } catch (error) {
    setText("skill-note", "Live skill is not shown: " + errorText(error));
    return null;
  }
}

function buildModel(site, forecast, observed) {
  const days = forecastDays(forecast);
  const issueMs = parseDay(forecast.issue_date);
  const last = observed.filter((point) => point.ms === issueMs && point.flow !== null)[0];
  return {
    site: site,
    forecast: forecast,
    days: days,
    observed: observed,
    issueObserved: last || null,
    thresholds: forecast.thresholds,
    hasExceedance: days.some((day) => day.exceedance !== null && day.exceedance !== undefined),
  };
}

function showForecast(model) {
  document.body.dataset.issueDate = model.forecast.issue_date;
  document.body.dataset.hindcast = String(model.forecast.hindcast);
  setText("forecast-summary", summaryText(model));
  setText("threshold-note", thresholdNote(model.site, model.thresholds));
  setText("model-version", "Model " + model.forecast.model_version + " \u00b7 forecast " + model.forecast.forecast_id);
  const input = document.getElementById("issue-date");
  input.value = model.forecast.issue_date;
  if (!model.forecast.hindcast) {
    input.max = model.forecast.issue_date;
  }
  document.getElementById("latest-link").hidden = !model.forecast.hindcast;
  drawChart(model);
  drawLegend(model);
  fillForecastTable(model);
  redrawOnResize(document.getElementById("hydrograph"), () => drawChart(model));
}

async function main() {
  const siteId = document.body.dataset.siteId;
  const issueDate = new URLSearchParams(window.location.search).get("issue_date");
  if (issueDate) {
    document.getElementById("issue-date").value = issueDate;
    document.getElementById("latest-link").hidden = false;
  }
  let info;
  try {
    info = await fetchJson("/info", { site_id: siteId });
  } catch (error) {
    setText("status", "");
    showError("error", error);
    setState("error");
    return;
  }
  const site = info.sites[0];
  showSite(site, info.synthetic_data);
  const answers = await Promise.all([
    fetchJson("/forecast", { site_id: siteId, forecast_days: horizonOf(site), issue_date: issueDate || null }).catch((error) => error),
    loadVerification(siteId),
  ]);
  fillSkillTable(site, answers[1]);
  if (answers[0] instanceof Error) {
    setText("status", "");
    showError("error", answers[0]);
    setState("error");
    return;
  }
  const forecast = answers[0];
  const observed = await loadObservations(siteId, forecast.issue_date);
  showForecast(buildModel(site, forecast, observed));
  setText("status", (forecast.hindcast ? "Hindcast" : "Forecast") + " of " + forecast.issue_date + " loaded.");
  setState("ready");
}

main().catch((error) => {
  showError("error", error);
  setState("error");
});
