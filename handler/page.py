"""`GET /`: the page in handler/web/ that streams an answer in a browser, built once at start-up.

The script is inlined into the HTML, so the page is one response on one route (locally at `/`, behind
API Gateway at `/<stage>/`), and a content security policy can allow exactly that script and style by hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

WEB = Path(__file__).resolve().parent / "web"
SCRIPT_SLOT = "<!-- app.js -->"


@cache
def page() -> tuple[bytes, str]:
    """The page's bytes and the content security policy that allows its own script and style only."""
    html = (WEB / "index.html").read_text()
    script = (WEB / "app.js").read_text()
    if SCRIPT_SLOT not in html or "</script" in script.lower():
        raise RuntimeError("handler/web/index.html needs one <!-- app.js --> slot; app.js must not close a script")
    html = html.replace(SCRIPT_SLOT, f"<script>{script}</script>")
    styles = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_hash(script)}",
            "style-src " + " ".join(_hash(style) for style in styles),
            # The endpoint field may point at another API.
            "connect-src *",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return html.encode(), policy


def _hash(source: str) -> str:
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    return f"'sha256-{digest}'"


async def serve_page(request: Request) -> Response:
    body, policy = page()
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={
            "content-security-policy": policy,
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
        },
    )
