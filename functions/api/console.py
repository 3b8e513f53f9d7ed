"""`/console`: the operator console, three static files served by the API itself, behind its
HTTP Basic credentials (`api.middleware`). No build step and nothing from elsewhere: the page
is plain HTML, CSS and a small script over the JSON routes, and its Content-Security-Policy
lets nothing else load. Off in `APP_PROFILE=prod` unless `APP_CONSOLE=true` (`CoreSettings`):
then the routes are not there at all (404)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

ASSETS_DIR = Path(__file__).with_name("console_assets")
# what /console/<name> serves: nothing else in the folder, and no path reaches outside it
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def asset(name: str) -> str:
    return (ASSETS_DIR / name).read_text(encoding="utf-8")


def add_console_routes(app: APIGatewayHttpResolver) -> None:
    def serve(name: str) -> Response[str]:
        if name not in ASSETS:
            return Response(404, "application/json", '{"error":"no such file in the console"}')
        return Response(200, ASSETS[name], asset(name), headers=HEADERS)

    @app.get("/console", include_in_schema=False)
    def console_page() -> Response[str]:
        return serve("index.html")

    @app.get("/console/<name>", include_in_schema=False)
    def console_asset(name: str) -> Response[str]:
        return serve(name)
