"""The hydrograph web pages: an index of the sites with a map, and one page per site.

The pages are static templates; their scripts (`service/static/`) fetch the
API's JSON (`/info`, `/forecast`, `/observations`, `/verification`) and draw
the map and the charts as inline SVG by hand. No library, CDN, tile server or
web font is involved, so the pages work offline: the charts need only lines,
polygons and axes, and a charting library would be one more vendored asset to
keep updated. Errors (a missing asset, a method other than GET) answer like
the API's, as JSON with their status, through `JsonErrorsMixin`.
"""

from __future__ import annotations

from pathlib import Path

import tornado.web

from service.handlers import JsonErrorsMixin

PAGES_DIR = Path(__file__).resolve().parent
STATIC_DIR = PAGES_DIR / "static"
TEMPLATE_DIR = PAGES_DIR / "templates"
# Everything the pages load comes from this service: a stray external URL fails, and shows as a
# console error in the browser tests. SVG presentation attributes are not styles, so no inline style
# is needed; the favicon is a data: URL, so the browser asks for no /favicon.ico.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class PageHandler(JsonErrorsMixin, tornado.web.RequestHandler):
    """An HTML page rendered from `service/templates/`, with tornado's autoescaping."""

    def get_template_path(self) -> str:
        return str(TEMPLATE_DIR)

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")


class IndexPageHandler(PageHandler):
    """The list and map of every site, each with the severity of its latest forecast."""

    route = "/"

    def get(self) -> None:
        self.render("index.html")


class SitePageHandler(PageHandler):
    """One site's hydrograph: observed flow, the forecast's median and bands, flood thresholds, skill.

    Any site id renders the page; its script shows the API's error (an unknown site's 404 message)
    as text on the page.
    """

    route = "/sites/{site_id}"

    def get(self, site_id: str) -> None:
        """Render the page of `site_id` (escaped into the HTML; the script reads it back)."""
        self.render("site.html", site_id=site_id)


class StaticAssetHandler(JsonErrorsMixin, tornado.web.StaticFileHandler):
    """The pages' scripts and style sheet, from `service/static/`."""

    route = "/static"

    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")


def page_routes() -> list[tornado.web.URLSpec]:
    """Routes of the web pages and their assets: `/`, `/sites/<site_id>` and `/static/<file>`."""
    return [
        tornado.web.url(r"/", IndexPageHandler),
        tornado.web.url(r"/sites/([^/]+)", SitePageHandler),
        tornado.web.url(r"/static/(.*)", StaticAssetHandler, {"path": str(STATIC_DIR)}),
    ]
