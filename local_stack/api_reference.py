"""The API's interactive reference (Swagger UI) at /docs, served by the local gateway from openapi.json.

Swagger UI's files come from the swagger-ui-py package (its `static/` folder): nothing is fetched from a
CDN. The document served is openapi.json with the local servers first, so "Try it out" calls this stack.
"""

from __future__ import annotations

import importlib.util
import json
import mimetypes
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

PREFIX = "/docs"
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{prefix}/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{prefix}/static/swagger-ui-bundle.js"></script>
<script>
window.onload = function () {{
  window.ui = SwaggerUIBundle({{url: "{prefix}/openapi.json", dom_id: "#swagger-ui", deepLinking: true}});
}};
</script>
</body>
</html>
"""


def swagger_ui_static() -> Path:
    """swagger-ui-py's copy of Swagger UI's dist files (the package itself is never imported)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("swagger-ui-py is not installed (requirements-dev.txt)")
    return Path(spec.origin).resolve().parent / "static"


@dataclass(frozen=True)
class Document:
    status: int
    content_type: str
    body: bytes


class ApiReference:
    """Answers GET /docs (the page), /docs/openapi.json and /docs/static/<file>; None for anything else."""

    def __init__(self, openapi: Path, static: Path | None = None) -> None:
        self.openapi = openapi
        self.static = static or swagger_ui_static()

    def answer(self, method: str, path: str) -> Document | None:
        if method not in ("GET", "HEAD") or not (path == PREFIX or path.startswith(f"{PREFIX}/")):
            return None
        if path in (PREFIX, f"{PREFIX}/"):
            title = str(self._document().get("info", {}).get("title", "API reference"))
            page = _PAGE.format(title=title, prefix=PREFIX)
            return Document(HTTPStatus.OK, "text/html; charset=utf-8", page.encode())
        if path == f"{PREFIX}/openapi.json":
            return Document(HTTPStatus.OK, "application/json", json.dumps(self._document()).encode())
        name = path.removeprefix(f"{PREFIX}/static/")
        if name != path and "/" not in name and (self.static / name).is_file():
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return Document(HTTPStatus.OK, kind, (self.static / name).read_bytes())
        return None

    def _document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.openapi.read_text())
        servers = document.get("servers", [])
        local = [server for server in servers if str(server.get("url", "")).startswith("/")]
        document["servers"] = local + [server for server in servers if server not in local]
        return document
