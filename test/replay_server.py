"""Fake USGS and Open-Meteo upstreams on 127.0.0.1, built from the recorded responses in ../shared.

Routes (base URLs: `usgs_url`, `archive_url`, `forecast_url`):

- ``usgs-locations``: `collections/monitoring-locations/items?id=USGS-<n>`. The recorded
  response for 01646500, byte for byte; a copy with another id, name, position and area
  for `OTHER_SITE`; an empty collection for any other id.
- ``usgs-series``: `collections/time-series-metadata/items`. For the two known sites, the
  recorded (v0) daily-mean series feature rewritten as a discharge series beginning on
  `FIRST_DAY`, and for `FIXTURE_SITE` the duplicate series beginning on `SERIES_BEGIN[OTHER_SERIES]`;
  filtered by `parameter_code` and `statistic_id` as the real server does.
- ``usgs-daily``: `collections/daily/items`. Daily means from `FIRST_DAY` to the day before
  `TODAY` in the recorded feature shape: the three recorded rows of 01646500
  (2026-09-28..30), deterministic values on the other days, plus variants on known days
  (`NULL_DAY`, `ABSENT_DAY`, `ICE_DAYS`, duplicate series on `DUPLICATE_DAYS`). Newest first,
  as one source observed; cursor paging with `next` links like the recorded ones; the
  recorded 400 body for an unknown `properties` name.
- ``archive`` / ``forecast``: Open-Meteo daily variables as deterministic functions of
  latitude and day in the recorded response shape, the archive's last `ARCHIVE_LAG_DAYS`
  days and the forecast's days past its horizon null; Open-Meteo's 400 bodies for an
  end date after today and unknown variables.

Every request is counted and recorded (route, query, headers). Faults queued with `fail`
replace the next matching answers: HTTP errors with recorded bodies, Retry-After, slow
answers, truncated JSON, HTML pages.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

FIXTURE_SITE = "01646500"
OTHER_SITE = "01638500"
TODAY = dt.date(2026, 10, 1)
FIRST_DAY = dt.date(2024, 1, 1)
NULL_DAY = dt.date(2026, 9, 20)
ABSENT_DAY = dt.date(2026, 9, 21)
ICE_DAYS = (dt.date(2026, 1, 26), dt.date(2026, 1, 27))
# Day -> (value of the other series, its approval status).
DUPLICATE_DAYS = {dt.date(2026, 9, 24): ("2990", "Approved"), dt.date(2026, 9, 25): (None, "Approved")}
ARCHIVE_LAG_DAYS = 3
FORECAST_HORIZON_DAYS = 14
MAIN_SERIES = "2cf409b0d9694c01828f5d4ff14586a5"  # the recorded series id
OTHER_SERIES = "0aa0aa0aa0aa0aa0aa0aa0aa0aa0aa0a"
SERIES_BEGIN = {MAIN_SERIES: FIRST_DAY, OTHER_SERIES: min(DUPLICATE_DAYS)}
DAILY_FIXTURE = "usgs_v1_daily_USGS-01646500_00060_2026-09-28_2026-09-30.json"
SERIES_FIXTURE = "usgs_v0_ogc_collections_trimmed.json"  # one object per collection
LOCATION_FIXTURE = "usgs_v1_monitoring_location_USGS-01646500.json"
# A real gauge downstream-ish of the fixture site; its metadata derive from the recorded response.
OTHER_LOCATION = {
    "name": "POTOMAC RIVER AT POINT OF ROCKS, MD",
    "coordinates": [-77.54305555555555, 39.27388888888889],
    "drainage_area": 9651.0,
}
OPEN_METEO_UNITS = {
    "precipitation_sum": "mm",
    "temperature_2m_max": "°C",
    "temperature_2m_min": "°C",
    "temperature_2m_mean": "°C",
    "et0_fao_evapotranspiration": "mm",
}


@dataclasses.dataclass
class Fault:
    """One replacement answer: an HTTP error, or the normal answer late, cut short or as HTML."""

    status: int = 200
    body: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay_s: float = 0.0
    truncate: bool = False


@dataclasses.dataclass
class Recorded:
    """One request the server received."""

    route: str
    query: str
    params: dict[str, str]
    headers: dict[str, str]


class ReplayServer:
    """The fake upstreams, served by a background thread; use as a context manager."""

    def __init__(self, fixtures_dir: Path) -> None:
        self.fixtures_dir = fixtures_dir
        self.requests: list[Recorded] = []
        self.max_in_flight: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._faults: list[list] = []
        self._lock = threading.Lock()
        self._recorded_rows = [f["properties"] for f in self.fixture(DAILY_FIXTURE)["features"]]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # A short poll interval makes shutdown, once per test, quick.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def usgs_url(self) -> str:
        return f"{self.base}/usgs/ogcapi/v1"

    @property
    def archive_url(self) -> str:
        return f"{self.base}/archive/v1/archive"

    @property
    def forecast_url(self) -> str:
        return f"{self.base}/forecast/v1/forecast"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fixture(self, name: str) -> dict:
        """A recorded response, parsed."""
        return json.loads((self.fixtures_dir / name).read_text(encoding="utf-8"))

    def fixture_bytes(self, name: str) -> bytes:
        """A recorded response, byte for byte."""
        return (self.fixtures_dir / name).read_bytes()

    def fail(self, route: str, fault: Fault, times: int | None = 1, match: str = "") -> None:
        """Answer the next `times` requests to `route` whose query contains `match` with `fault`
        (None: every one until `heal`)."""
        with self._lock:
            self._faults.append([route, match, fault, times])

    def heal(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def hits(self, route: str = "", match: str = "") -> int:
        """Requests received for `route` (every route when empty) whose query contains `match`."""
        with self._lock:
            return sum(1 for r in self.requests if route in ("", r.route) and match in r.query)

    def reset(self) -> None:
        """Forget the recorded requests and faults."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.max_in_flight.clear()

    def _take_fault(self, route: str, query: str) -> Fault | None:
        with self._lock:
            for entry in self._faults:
                if entry[0] == route and entry[1] in query and (entry[3] is None or entry[3] > 0):
                    if entry[3] is not None:
                        entry[3] -= 1
                    return entry[2]
        return None

    def _enter(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)
            self._in_flight[request.route] = self._in_flight.get(request.route, 0) + 1
            self.max_in_flight[request.route] = max(
                self.max_in_flight.get(request.route, 0), self._in_flight[request.route]
            )

    def _leave(self, route: str) -> None:
        with self._lock:
            self._in_flight[route] -= 1

    def answer(self, route: str, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        """The normal answer of a route: status and JSON body."""
        if route == "usgs-locations":
            return self._location(params)
        if route == "usgs-daily":
            return self._daily(path, params)
        if route == "usgs-series":
            return self._series(params)
        return _open_meteo(route, params)

    def _location(self, params: dict[str, str]) -> tuple[int, bytes]:
        site = params.get("id", "").removeprefix("USGS-")
        if site == FIXTURE_SITE:
            return 200, self.fixture_bytes(LOCATION_FIXTURE)
        body = self.fixture(LOCATION_FIXTURE)
        if site != OTHER_SITE:
            body.update(features=[], numberReturned=0)
            return 200, _json(body)
        feature = body["features"][0]
        feature["id"] = feature["properties"]["id"] = f"USGS-{site}"
        feature["properties"].update(
            monitoring_location_number=site,
            monitoring_location_name=OTHER_LOCATION["name"],
            drainage_area=OTHER_LOCATION["drainage_area"],
        )
        feature["geometry"]["coordinates"] = OTHER_LOCATION["coordinates"]
        return 200, _json(body)

    def _series(self, params: dict[str, str]) -> tuple[int, bytes]:
        body = self.fixture(SERIES_FIXTURE)["time-series-metadata"]
        (template,) = [f for f in body["features"] if f["properties"]["computation_identifier"] == "Mean"]
        site = params.get("monitoring_location_id", "").removeprefix("USGS-")
        series = {FIXTURE_SITE: (MAIN_SERIES, OTHER_SERIES), OTHER_SITE: (MAIN_SERIES,)}.get(site, ())
        features = []
        for number, series_id in enumerate(series):
            feature = json.loads(json.dumps(template))
            feature["id"] = series_id
            feature["properties"].update(
                id=series_id,
                monitoring_location_id=f"USGS-{site}",
                parameter_code="00060",
                parameter_name="Discharge",
                parameter_description="Discharge, cubic feet per second",
                unit_of_measure="ft^3/s",
                primary="Primary" if number == 0 else None,
                begin=f"{SERIES_BEGIN[series_id]}T00:00:00.000001",
                end=f"{TODAY - dt.timedelta(days=1)}T00:00:00.000001",
            )
            features.append(feature)
        wanted = (params.get("parameter_code"), params.get("statistic_id"))
        features = [
            f for f in features if (f["properties"]["parameter_code"], f["properties"]["statistic_id"]) == wanted
        ]
        return 200, _json({**body, "features": features, "numberReturned": len(features)})

    def _daily(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        known = set(self._recorded_rows[0])
        wanted = params.get("properties", ",".join(known)).split(",")
        if not set(wanted) <= known:
            return 400, self.fixture_bytes("usgs_v1_error_unknown_property.json")
        site = params.get("monitoring_location_id", "").removeprefix("USGS-")
        first, _, last = params.get("time", f"{FIRST_DAY}/{TODAY}").partition("/")
        rows = self._daily_rows(site, max(FIRST_DAY, dt.date.fromisoformat(first)), dt.date.fromisoformat(last))
        if params.get("parameter_code") != "00060" or params.get("statistic_id", "00003") != "00003":
            rows = []
        # The real server's default page is small: a client that does not set limit pages a lot.
        offset, limit = _decode_cursor(params.get("cursor")), int(params.get("limit", "10"))
        page = rows[offset : offset + limit]
        geometry = None if params.get("skipGeometry") == "true" else {"type": "Point", "coordinates": [0.0, 0.0]}
        features = [
            {
                "type": "Feature",
                "properties": {k: row[k] for k in wanted},
                "id": f"{row['time_series_id']}-{row['time']}",
                "geometry": geometry,
            }
            for row in page
        ]
        links = [{"type": "application/geo+json", "rel": "self", "href": f"{self.base}{path}?{urlencode(params)}"}]
        if offset + limit < len(rows):
            rest = {name: value for name, value in params.items() if name != "cursor"}
            href = f"{self.base}{path}?{urlencode({'cursor': _encode_cursor(offset + limit), **rest})}"
            links.insert(0, {"rel": "next", "href": href, "type": "application/geo+json", "title": "Items (next)"})
        body = {"type": "FeatureCollection", "features": features, "numberReturned": len(features), "links": links}
        return 200, _json({**body, "timeStamp": f"{TODAY}T07:30:00.000000Z"})

    def _daily_rows(self, site: str, first: dt.date, last: dt.date) -> list[dict]:
        if site not in (FIXTURE_SITE, OTHER_SITE):
            return []
        recorded = {row["time"]: row for row in self._recorded_rows} if site == FIXTURE_SITE else {}
        rows = []
        day = min(last, TODAY - dt.timedelta(days=1))
        while day >= first:
            if day.isoformat() in recorded:
                rows.append(dict(recorded[day.isoformat()]))
            elif not (site == FIXTURE_SITE and day == ABSENT_DAY):
                rows += _synthetic_rows(site, day)
            day -= dt.timedelta(days=1)
        return rows


def _synthetic_rows(site: str, day: dt.date) -> list[dict]:
    row = {
        "time_series_id": MAIN_SERIES,
        "monitoring_location_id": f"USGS-{site}",
        "parameter_code": "00060",
        "statistic_id": "00003",
        "time": day.isoformat(),
        "value": f"{synthetic_flow_ft3s(site, day):.0f}",
        "unit_of_measure": "ft^3/s",
        "approval_status": "Approved" if day < dt.date(2026, 4, 1) else "Provisional",
        "qualifier": None,
        "last_modified": f"{day + dt.timedelta(days=1)}T07:08:17.284720+00:00",
    }
    if site != FIXTURE_SITE:
        return [row]
    if day == NULL_DAY:
        row["value"] = None
    if day in ICE_DAYS:
        row["qualifier"] = ["ICE", "ESTIMATED"]
    rows = [row]
    if day in DUPLICATE_DAYS:
        value, approval = DUPLICATE_DAYS[day]
        rows.append({**row, "time_series_id": OTHER_SERIES, "value": value, "approval_status": approval})
    return rows


def synthetic_flow_ft3s(site: str, day: dt.date) -> float:
    """Deterministic daily mean discharge (ft3/s): a seasonal cycle plus a week of recent rain."""
    scale = 1.0 if site == FIXTURE_SITE else 0.85
    season = math.sin(2 * math.pi * (day.timetuple().tm_yday - 20) / 365.25)
    rain = sum(meteo_value("precipitation_sum", 39.0, day - dt.timedelta(days=k)) * 0.7**k for k in range(7))
    return scale * (9000.0 + 6000.0 * season + 350.0 * rain)


def meteo_value(variable: str, latitude: float, day: dt.date) -> float:
    """Deterministic daily value of an Open-Meteo variable at a latitude, in its default unit."""
    season = math.sin(2 * math.pi * (day.timetuple().tm_yday - 105) / 365.25)
    mean = 13.0 - 0.5 * (latitude - 39.0) + 11.0 * season
    if variable == "precipitation_sum":
        draw = (day.toordinal() * 2654435761) % 1000
        return round((draw % 97) / 4.0, 1) if draw < 300 else 0.0
    if variable == "et0_fao_evapotranspiration":
        return round(max(0.2, 2.6 + 2.2 * season), 2)
    offset = {"temperature_2m_max": 5.5, "temperature_2m_min": -5.0, "temperature_2m_mean": 0.0}[variable]
    return round(mean + offset, 1)


def _open_meteo(route: str, params: dict[str, str]) -> tuple[int, bytes]:
    variables = params.get("daily", "").split(",")
    unknown = [name for name in variables if name not in OPEN_METEO_UNITS]
    if unknown:
        return 400, _json(
            {
                "error": True,
                "reason": f"Cannot initialize SurfacePressureAndHeightVariable from invalid String value {unknown[0]}.",
            }
        )
    if route == "archive":
        first, last = dt.date.fromisoformat(params["start_date"]), dt.date.fromisoformat(params["end_date"])
        if last > TODAY:
            return 400, _json(
                {"error": True, "reason": f"Parameter 'end_date' is out of allowed range from 1940-01-01 to {TODAY}"}
            )
        null_from = TODAY - dt.timedelta(days=ARCHIVE_LAG_DAYS - 1)
    else:
        past, ahead = int(params.get("past_days", "0")), int(params.get("forecast_days", "7"))
        if past > 92 or ahead > 16:
            return 400, _json(
                {"error": True, "reason": "Parameter 'past_days' or 'forecast_days' is out of allowed range"}
            )
        first, last = TODAY - dt.timedelta(days=past), TODAY + dt.timedelta(days=ahead - 1)
        null_from = TODAY + dt.timedelta(days=FORECAST_HORIZON_DAYS)
    latitude, longitude = float(params["latitude"]), float(params["longitude"])
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    daily = {"time": [day.isoformat() for day in days]}
    for name in variables:
        daily[name] = [None if day >= null_from else meteo_value(name, latitude, day) for day in days]
    timezone = params.get("timezone", "GMT")
    body = {
        # Open-Meteo answers with its grid cell's position, not the one asked for.
        "latitude": round(latitude * 10) / 10 + 0.01,
        "longitude": round(longitude * 10) / 10 - 0.02,
        "generationtime_ms": 0.4,
        "utc_offset_seconds": -14400 if timezone == "America/New_York" else 0,
        "timezone": timezone,
        "timezone_abbreviation": "GMT-4" if timezone == "America/New_York" else "GMT",
        "elevation": 40.0,
        "daily_units": {"time": "iso8601", **{name: OPEN_METEO_UNITS[name] for name in variables}},
        "daily": daily,
    }
    return 200, _json(body)


def _json(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"replay|{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")[1])


ROUTES = {
    "/usgs/ogcapi/v1/collections/monitoring-locations/items": "usgs-locations",
    "/usgs/ogcapi/v1/collections/daily/items": "usgs-daily",
    "/usgs/ogcapi/v1/collections/time-series-metadata/items": "usgs-series",
    "/archive/v1/archive": "archive",
    "/forecast/v1/forecast": "forecast",
}


def _handler_class(replay: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            route = ROUTES.get(url.path)
            if route is None:
                self._send(404, b'{"code": "NotFound", "description": "no such path"}', "application/json", {})
                return
            params = {name: values[-1] for name, values in parse_qs(url.query).items()}
            replay._enter(Recorded(route, url.query, params, dict(self.headers)))
            try:
                self._answer(route, url.path, url.query, params)
            finally:
                replay._leave(route)

        def _answer(self, route: str, path: str, query: str, params: dict[str, str]) -> None:
            fault = replay._take_fault(route, query) or Fault()
            time.sleep(fault.delay_s)
            status, body = replay.answer(route, path, params)
            if fault.status != 200 or fault.body is not None:
                status, body = fault.status, fault.body or b""
            if fault.truncate:
                body = body[: len(body) // 2]
            self._send(status, body, fault.content_type, fault.headers)

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (timeout tests)

        def log_message(self, format: str, *args) -> None:
            pass  # keep test output readable

    return Handler


def http_error(status: int, body: bytes, retry_after: str | None = None) -> Fault:
    """An HTTP error answer with a body (e.g. a recorded error fixture)."""
    return Fault(status=status, body=body, headers={"Retry-After": retry_after} if retry_after else {})


def open_meteo_error(status: int, reason: str) -> Fault:
    """An Open-Meteo error answer: {"error": true, "reason": ...}."""
    return http_error(status, _json({"error": True, "reason": reason}))


def gateway_error(status: int, code: str, message: str, retry_after: str | None = None) -> Fault:
    """An api.data.gov gateway error answer (USGS keys and quotas)."""
    return http_error(status, _json({"error": {"code": code, "message": message}}), retry_after)


SLOW = Fault(delay_s=1.5)
TRUNCATED = Fault(truncate=True)
HTML_PAGE = Fault(
    body=b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
    content_type="text/html",
)


def upstream_settings(server: ReplayServer, cache_dir: Path) -> dict[str, object]:
    """`upstream` config values pointing at `server`, with tiny timeouts and backoff so failures stay fast."""
    return {
        "usgs_url": server.usgs_url,
        "open_meteo_archive_url": server.archive_url,
        "open_meteo_forecast_url": server.forecast_url,
        "cache_dir": str(cache_dir),
        "timeout_s": 0.5,
        "retries": 1,
        "backoff_s": 0.01,
        "max_retry_wait_s": 0.5,
        "usgs_page_size": 200,
    }
