// Helpers shared by the pages: API requests, DOM and SVG elements, scales, dates and numbers.
// Plain ES2017 in ES modules, no library: the charts need only lines, polygons and axes.

export const SVG_NS = "http://www.w3.org/2000/svg";
export const DAY_MS = 24 * 60 * 60 * 1000;

// Severity of a forecast, from /forecast's "severity", in increasing order.
export const SEVERITIES = ["none", "2-year", "5-year", "10-year", "unknown"];
export const SEVERITY_LABELS = {
  "none": "Below the 2-year flood",
  "2-year": "Above the 2-year flood",
  "5-year": "Above the 5-year flood",
  "10-year": "Above the 10-year flood",
  "unknown": "Unknown (no flood thresholds)",
};
export const TREND_LABELS = { rising: "\u2197 rising", falling: "\u2198 falling", steady: "\u2192 steady" };

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An error answer of the API: its HTTP status, its code and its message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** The query string of `params` (entries that are undefined or null are left out). */
export function queryString(params) {
  const search = new URLSearchParams();
  Object.keys(params || {}).forEach((key) => {
    const value = params[key];
    if (value !== undefined && value !== null) {
      search.set(key, String(value));
    }
  });
  const text = search.toString();
  return text ? "?" + text : "";
}

/** GET `path` with `params` from the API; resolves to its JSON, rejects with an ApiError. */
export async function fetchJson(path, params) {
  const url = path + queryString(params);
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError(0, "network_error", "the service did not answer " + path + " (" + err.message + ")");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    const error = body && body.error ? body.error : {};
    throw new ApiError(
      response.status,
      error.code || "http_" + response.status,
      error.message || path + " answered " + response.status + " " + response.statusText,
    );
  }
  if (body === null) {
    throw new ApiError(response.status, "invalid_json", path + " did not answer JSON");
  }
  return body;
}

/** The text of an error for the page: the API's message, with its status. */
export function errorText(error) {
  if (error instanceof ApiError) {
    return error.status ? error.message + " (" + error.status + " " + error.code + ")" : error.message;
  }
  return "the page failed: " + (error && error.message ? error.message : String(error));
}

/** Show `error` in the element with id `id` (role=alert); unexpected errors also go to the console. */
export function showError(id, error) {
  const element = document.getElementById(id);
  element.textContent = errorText(error);
  element.hidden = false;
  if (!(error instanceof ApiError)) {
    console.error(error);
  }
}

/** Set the text of the element with id `id` and show it (hide it when `text` is empty). */
export function setText(id, text) {
  const element = document.getElementById(id);
  element.textContent = text || "";
  element.hidden = !text;
  return element;
}

/** A new HTML element with attributes and, optionally, text. */
export function html(name, attributes, text) {
  const element = document.createElement(name);
  Object.keys(attributes || {}).forEach((key) => element.setAttribute(key, attributes[key]));
  if (text !== undefined && text !== null) {
    element.textContent = String(text);
  }
  return element;
}

/** A new SVG element with attributes, appended to `parent` when given. */
export function svg(name, attributes, parent) {
  const element = document.createElementNS(SVG_NS, name);
  Object.keys(attributes || {}).forEach((key) => element.setAttribute(key, attributes[key]));
  if (parent) {
    parent.appendChild(element);
  }
  return element;
}

/** An SVG <text> with `content`, appended to `parent`. */
export function svgText(parent, attributes, content) {
  const element = svg("text", attributes, parent);
  element.textContent = content;
  return element;
}

/** Remove every child of `element`. */
export function clear(element) {
  while (element.firstChild) {
    element.removeChild(element.firstChild);
  }
}

/** A linear map from `domain` [d0, d1] to `range` [r0, r1]; `scale.invert` maps back. */
export function linearScale(domain, range) {
  const span = domain[1] - domain[0] || 1;
  const scale = (value) => range[0] + ((value - domain[0]) / span) * (range[1] - range[0]);
  scale.domain = domain;
  scale.range = range;
  return scale;
}

/** About `count` round tick values covering [min, max] (steps of 1, 2 or 5 times a power of ten). */
export function niceTicks(min, max, count) {
  const span = max - min;
  if (!(span > 0) || !(count > 0)) {
    return [min];
  }
  const raw = span / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= raw);
  const ticks = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) {
    ticks.push(Math.round(value / step) * step);
  }
  return ticks;
}

/** The smallest round number at or above `value` (1, 2, 2.5 or 5 times a power of ten). */
export function niceCeiling(value) {
  if (!(value > 0)) {
    return 1;
  }
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  const factor = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((candidate) => candidate * power >= value);
  return factor * power;
}

/** Milliseconds (UTC midnight) of a YYYY-MM-DD date; NaN when it is not one. */
export function parseDay(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
  return match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : NaN;
}

/** The YYYY-MM-DD date of UTC milliseconds. */
export function formatDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The YYYY-MM-DD date `days` after (or before, when negative) the date `text`. */
export function addDays(text, days) {
  return formatDay(parseDay(text) + days * DAY_MS);
}

/** A short label of a day: "3 Mar", or "3 Mar 2024" with `withYear`. */
export function shortDay(ms, withYear) {
  const date = new Date(ms);
  const label = date.getUTCDate() + " " + MONTHS[date.getUTCMonth()];
  return withYear ? label + " " + date.getUTCFullYear() : label;
}

/** A flow in m3/s with three significant digits ("–" when unknown). */
export function formatFlow(value) {
  if (value === null || value === undefined || !isFinite(value)) {
    return "\u2013";
  }
  if (value === 0) {
    return "0";
  }
  if (Math.abs(value) >= 1000) {
    return Math.round(value).toLocaleString("en-US");
  }
  return Number(value.toPrecision(3)).toString();
}

/** A skill score (NSE) with two decimals ("–" when unknown). */
export function formatScore(value) {
  return value === null || value === undefined || !isFinite(value) ? "\u2013" : value.toFixed(2);
}

/** A probability as a whole percentage ("–" when unknown). */
export function formatPercent(probability) {
  if (probability === null || probability === undefined || !isFinite(probability)) {
    return "\u2013";
  }
  return Math.round(probability * 100) + "\u00a0%";
}

/** The label of a severity, or the value itself when it is not one the page knows. */
export function severityLabel(severity) {
  return SEVERITY_LABELS[severity] || String(severity);
}

/** Record the page's state on <body data-state> ("loading", "ready" or "error"): tests wait for it. */
export function setState(state) {
  document.body.dataset.state = state;
}

/** Call `work(item)` for every item, at most `limit` at a time; resolves when all settled. */
export async function forEachLimited(items, limit, work) {
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const item = items[next];
      next += 1;
      await work(item);
    }
  }
  const workers = [];
  for (let index = 0; index < Math.min(limit, items.length); index += 1) {
    workers.push(worker());
  }
  await Promise.all(workers);
}

/** Call `draw()` again when the width of `element` changes (the SVGs are laid out in CSS pixels). */
export function redrawOnResize(element, draw) {
  let width = element.getBoundingClientRect().width;
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      const now = element.getBoundingClientRect().width;
      if (Math.abs(now - width) > 1) {
        width = now;
        draw();
      }
    }, 150);
  });
}

/** The width, in CSS pixels, an SVG gets from its container (at least `minimum`). */
export function layoutWidth(element, minimum) {
  const width = element.getBoundingClientRect().width;
  return Math.max(minimum, Math.round(width || minimum));
}

/** A legend entry: a swatch with the class `swatchClass` and a label. */
export function legendItem(list, swatchClass, label) {
  const item = html("li");
  item.appendChild(html("span", { "class": "swatch " + swatchClass, "aria-hidden": "true" }));
  item.appendChild(document.createTextNode(label));
  list.appendChild(item);
  return item;
}

/** The model's horizon in lead days, read from a site of /info (its test_nse has one entry per lead
 * day), for /forecast's forecast_days; null (the parameter left out) when /info does not say. */
export function horizonOf(site) {
  const leads = Object.keys(site.test_nse || {}).map(Number).filter((lead) => lead > 0);
  return leads.length ? Math.max.apply(null, leads) : null;
}
