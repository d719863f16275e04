"""The hydrograph pages, `/` and `/sites/<site_id>`, in a real headless Chromium over the tiny trained model.

The browser has no network but the service on 127.0.0.1, and the pages' Content-Security-Policy
refuses anything from elsewhere, so these tests also show the pages need no CDN, tile or font
server. Any console error (a script exception, a failed load, a policy violation) fails a test.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import AppConfig
from test.cdp_browser import ChromiumPage
from test.integration.test_doc_browser import chromium_or_skip
from test.support import REPO_ROOT, RunningService

pytestmark = pytest.mark.slow

# Screenshots land here to be looked at (the directory is git-ignored).
OUTPUT_DIR = REPO_ROOT / "test" / "output"
PHONE_WIDTH = 375
SEVERITIES = {"none", "2-year", "5-year", "10-year", "unknown"}
# <body data-state> leaves "loading" once the page's script has shown its data or its error.
SETTLED = "document.body.dataset.state !== 'loading'"
MAX_TABS = 40


@pytest.fixture(scope="module")
def service(trained_config: AppConfig) -> Iterator[RunningService]:
    """The real app over the session's tiny trained model, shared by this module's tests."""
    with RunningService(trained_config) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[ChromiumPage]:
    """A page of a fresh headless Chromium, at a laptop's size."""
    with ChromiumPage(chromium_or_skip(), tmp_path / "profile") as page:
        page.set_viewport(1280, 900)
        yield page


@pytest.fixture(scope="module")
def sites(service: RunningService) -> list[dict]:
    """The sites of /info."""
    answer = service.get("/info")
    assert answer.status_code == 200, answer.text
    return answer.json()["sites"]


def load(page: ChromiumPage, service: RunningService, path: str) -> str:
    """Open `path` and return the page's state once its script settled ("ready" or "error")."""
    page.navigate(service.url(path))
    return page.wait_for(f"{SETTLED} && document.body.dataset.state")


def assert_no_console_errors(page: ChromiumPage) -> None:
    page.pause(0.2)  # errors logged just after the page settled
    assert page.console_errors == []


def focus_path(page: ChromiumPage, stop_when: str) -> list[str]:
    """Press Tab from the top of the page until `stop_when` holds for the focused element (bounded).

    Returns:
        A description (tag, id, href) of each element focused on the way.
    """
    describe = (
        "(() => { const e = document.activeElement; "
        "return [e.tagName.toLowerCase(), e.id, e.getAttribute('href') || ''].join(' '); })()"
    )
    page.evaluate("document.activeElement && document.activeElement.blur()")
    visited = []
    for _ in range(MAX_TABS):
        page.press("Tab")
        visited.append(page.evaluate(describe))
        if page.evaluate(f"(() => {{ const e = document.activeElement; return Boolean({stop_when}); }})()"):
            return visited
    raise AssertionError(f"Tab never reached {stop_when!r}; it visited {visited}")


def forecast_path(site: dict, issue_date: str | None = None) -> str:
    """The /forecast request the pages make for `site`: every lead day (one per entry of its test_nse)."""
    path = f"/forecast?site_id={site['site_id']}&forecast_days={max(int(lead) for lead in site['test_nse'])}"
    return path + (f"&issue_date={issue_date}" if issue_date else "")


def shown_flows(page: ChromiumPage, selector: str) -> int:
    """How many SVG elements match `selector` with drawn geometry (a path's d, a polygon's points)."""
    return page.evaluate(
        f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
        ".filter(e => (e.getAttribute('d') || e.getAttribute('points') || e.getAttribute('y1') || '').trim()).length"
    )


# Plain HTTP


def test_pages_and_assets_answer_over_http(service: RunningService) -> None:
    for path in ("/", "/sites/x"):
        answer = service.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["Content-Type"].startswith("text/html"), path
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    script = service.get("/static/site.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["Content-Type"]
    assert service.get("/static/hydrograph.css").headers["Content-Type"].startswith("text/css")
    missing = service.get("/static/nope.js")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_site_page_escapes_the_site_id(service: RunningService) -> None:
    page = service.get("/sites/%3Cscript%3Ealert(1)%3C%2Fscript%3E%22").text
    assert "<script>alert(1)" not in page
    assert 'data-site-id="&lt;script&gt;alert(1)&lt;/script&gt;&quot;"' in page


# The index page


def test_index_lists_and_maps_every_site_with_its_severity(
    service: RunningService, browser: ChromiumPage, sites: list[dict]
) -> None:
    assert load(browser, service, "/") == "ready"
    site_ids = [site["site_id"] for site in sites]
    rows = browser.evaluate("Array.from(document.querySelectorAll('#sites-table tbody tr')).map(r => r.dataset.siteId)")
    assert rows == site_ids
    markers = browser.evaluate(
        "Object.fromEntries(Array.from(document.querySelectorAll('#site-map .site-marker'))"
        ".map(m => [m.dataset.siteId, [m.dataset.severity, m.getAttribute('href')]]))"
    )
    assert sorted(markers) == sorted(site_ids)
    assert browser.evaluate("document.querySelectorAll('#site-map .site-marker').length") == len(sites)
    by_id = {site["site_id"]: site for site in sites}
    for site_id, (severity, href) in markers.items():
        latest = service.get(forecast_path(by_id[site_id])).json()
        assert severity in SEVERITIES
        assert severity == latest["severity"], site_id
        assert href == f"/sites/{site_id}"
    browser.screenshot(OUTPUT_DIR / "index.png")
    assert_no_console_errors(browser)


def test_tab_reaches_every_site_link_of_the_index(
    service: RunningService, browser: ChromiumPage, sites: list[dict]
) -> None:
    assert load(browser, service, "/") == "ready"
    last_link = f"/sites/{sites[-1]['site_id']}"
    visited = focus_path(browser, f"e.closest('#sites-table') && e.getAttribute('href') === '{last_link}'")
    table_links = [entry.split(" ")[-1] for entry in visited if entry.startswith("a ") and "/sites/" in entry]
    for site in sites:
        assert f"/sites/{site['site_id']}" in table_links
    assert_no_console_errors(browser)


# The site page


def test_site_page_draws_observed_flow_median_bands_and_thresholds(
    service: RunningService, browser: ChromiumPage, sites: list[dict]
) -> None:
    site = sites[0]
    assert load(browser, service, f"/sites/{site['site_id']}") == "ready", browser.evaluate(
        "document.getElementById('error').textContent"
    )
    for selector in ("#observed-line", "#median-line", "#band-50", "#band-90"):
        assert shown_flows(browser, selector) == 1, selector
    flows = site["flood_thresholds"]["flows"]
    if flows is None:
        assert browser.evaluate("document.querySelectorAll('.threshold-line').length") == 0
        assert site["flood_thresholds"]["reason"] in browser.evaluate(
            "document.getElementById('threshold-note').textContent"
        )
    else:
        for years in ("2", "5", "10"):
            assert shown_flows(browser, f'.threshold-line[data-years="{years}"]') == 1, years
    latest = service.get(forecast_path(site)).json()
    assert browser.evaluate("document.querySelectorAll('#forecast-table tbody tr').length") == len(latest["forecast"])
    assert browser.evaluate("document.querySelectorAll('#chart-legend li').length") >= 4
    assert browser.evaluate("document.querySelectorAll('#skill-table tbody tr').length") == len(site["test_nse"])
    shot = browser.screenshot(OUTPUT_DIR / f"site-{site['site_id']}.png")
    print(f"screenshot of the site page: {shot}")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert_no_console_errors(browser)


def test_the_date_picker_switches_to_a_hindcast_with_observed_flow(
    service: RunningService, browser: ChromiumPage, sites: list[dict]
) -> None:
    site_id = sites[0]["site_id"]
    assert load(browser, service, f"/sites/{site_id}") == "ready", browser.evaluate(
        "document.getElementById('error').textContent"
    )
    latest = dt.date.fromisoformat(browser.evaluate("document.body.dataset.issueDate"))
    issue_date = (latest - dt.timedelta(days=30)).isoformat()
    browser.evaluate(f"document.getElementById('issue-date').value = '{issue_date}'")
    browser.evaluate("document.getElementById('hindcast-button').focus()")
    browser.press("Enter")
    browser.wait_for(f"location.search === '?issue_date={issue_date}' && {SETTLED}")
    assert browser.evaluate("document.body.dataset.state") == "ready"
    assert browser.evaluate("document.body.dataset.hindcast") == "true"
    assert browser.evaluate("document.body.dataset.issueDate") == issue_date
    assert shown_flows(browser, "#hindcast-observed-line") == 1
    hindcast = service.get(forecast_path(sites[0], issue_date)).json()
    observed = [day["observed"] for day in hindcast["forecast"] if day["observed"] is not None]
    assert browser.evaluate("document.querySelectorAll('.hindcast-observed-dot').length") == len(observed)
    assert "Observed" in browser.evaluate("document.querySelector('#forecast-table thead').textContent")
    browser.screenshot(OUTPUT_DIR / f"site-{site_id}-hindcast.png")
    assert_no_console_errors(browser)


def test_pages_fit_a_phone_and_tab_reaches_the_date_picker(
    service: RunningService, browser: ChromiumPage, sites: list[dict]
) -> None:
    browser.set_viewport(PHONE_WIDTH, 800, mobile=True, scale=2)
    for path in ("/", f"/sites/{sites[0]['site_id']}"):
        assert load(browser, service, path) == "ready", path
        assert browser.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH, path
    visited = focus_path(browser, "e.id === 'issue-date'")
    assert len(visited) <= 6, visited  # the skip link, the header's links, then the picker
    browser.screenshot(OUTPUT_DIR / f"site-{sites[0]['site_id']}-phone.png")
    assert_no_console_errors(browser)


def test_an_unknown_site_shows_the_api_error(service: RunningService, browser: ChromiumPage) -> None:
    expected = service.get("/info?site_id=00000000").json()["error"]["message"]
    assert load(browser, service, "/sites/00000000") == "error"
    assert expected in browser.evaluate("document.getElementById('error').textContent")
    browser.pause(0.2)
    # The browser logs the API's 404 answer itself; nothing else may go wrong.
    assert [error for error in browser.console_errors if "status of 404" not in error] == []
