"""Templates (Jinja2, autoescaped: every value a user supplied is escaped), the CSRF
double-submit token, and the response headers every dashboard page carries."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from loopml.errors import PermissionDenied

HERE = Path(__file__).parent
CSRF_COOKIE = "loopml_csrf"
# No script runs on these pages at all; charts are inline SVG. The policy makes any
# injected markup inert even if escaping were ever missed.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}


def _ts(ms: int | None) -> str:
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _dur(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms / 1000:.2f}s" if ms < 60_000 else f"{ms / 60_000:.1f}min"


ENV = Environment(loader=FileSystemLoader(HERE / "templates"),
                  autoescape=select_autoescape(["html"], default=True),
                  trim_blocks=True, lstrip_blocks=True,
                  finalize=lambda v: "" if v is None else v)
ENV.filters.update(ts=_ts, num=_num, dur=_dur)


def csrf_token(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def check_csrf(request: Request, form: Any) -> None:
    cookie, sent = request.cookies.get(CSRF_COOKIE, ""), str(form.get("csrf", ""))
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise PermissionDenied("Missing or wrong CSRF token: reload the page and try again.")


def render(request: Request, template: str, code: int = 200, **ctx: Any) -> Response:
    token = csrf_token(request)
    html = ENV.get_template(template).render(request=request, csrf=token, **ctx)
    resp = HTMLResponse(html, status_code=code, headers=HEADERS)
    if request.cookies.get(CSRF_COOKIE) != token:
        resp.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
    return resp


def safe(svg: str) -> Markup:
    """SVG built by ``ui.svg`` (which escapes every label itself)."""
    return Markup(svg)  # noqa: S704 - built from escaped parts in ui/svg.py
