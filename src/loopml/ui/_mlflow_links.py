"""The links the mlflow client prints ("View run ... at: <uri>/#/experiments/<id>/runs/<id>")
point at MLflow's single-page app, whose route lives in the URL fragment, which browsers never
send to a server. ``/`` therefore answers with one small script, allowed by its hash in the
page's Content-Security-Policy (every other dashboard page runs no script at all), that maps
MLflow's fragment routes to the dashboard's pages. Without JavaScript the page falls back to
the experiments list."""

from __future__ import annotations

import base64
import hashlib

from loopml.ui._render import CSP, HEADERS

# MLflow UI route (fragment) -> dashboard path. Ids are matched without '/', '?' or '#', so the
# target always stays under its /ui/ prefix on this server.
SCRIPT = (
    "(function(){var h=location.hash,m,t='/ui/experiments';"
    "var R=[[/^#\\/experiments\\/[^/?#]+\\/runs\\/([^/?#]+)/,'/ui/runs/'],"
    "[/^#\\/experiments\\/[^/?#]+\\/models\\/([^/?#]+)/,'/ui/logged-models/'],"
    "[/^#\\/experiments\\/([^/?#]+)/,'/ui/experiments/'],"
    "[/^#\\/models\\/([^/?#]+)/,'/ui/models/']];"
    "for(var i=0;i<R.length;i++){m=h.match(R[i][0]);if(m){t=R[i][1]+m[1];break;}}"
    "location.replace(t);})();"
)
_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
ROOT_CSP = CSP.replace("default-src 'none';", f"default-src 'none'; script-src 'sha256-{_HASH}';")
ROOT_HEADERS = {**HEADERS, "Content-Security-Policy": ROOT_CSP}

ROOT_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loopml</title>
<noscript><meta http-equiv="refresh" content="0;url=/ui/experiments"></noscript>
<script>{SCRIPT}</script></head>
<body><p><a href="/ui/experiments">Experiments</a></p></body></html>
"""
