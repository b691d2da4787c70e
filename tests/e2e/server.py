"""The local test site for the browser tests: static pages from ``site/`` and upload
endpoints that keep every byte they receive, so the tests can inspect what a site would get.

Serve on 127.0.0.1; the browser reaches it under several names (``social.test``,
``other.test``) through Chromium's ``--host-resolver-rules``, and the ``Host`` header of
every upload is recorded so a test knows which name the page was loaded under.

- ``GET /<page>.html``: the pages (form, app, hidden, drop, paste, shadow).
- ``POST /upload/<flow>``: multipart/form-data; every file part is kept. A plain form
  submission gets an HTML page (``#received``), a script upload gets JSON ``{"count": n}``.
- ``GET /<prefix>/...``: a folder mounted with ``TestSite(mounts={"/zoo/": folder})`` (the
  upload-widget zoo, built by ``zoo/build.mjs``).

Run by hand: ``python tests/e2e/server.py [port]``.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SITE_DIR = Path(__file__).resolve().parent / "site"
MAX_BODY = 200 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """One file part of one upload request."""

    flow: str
    host: str
    field: str
    filename: str
    content_type: str
    data: bytes


def parse_multipart(body: bytes, boundary: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Split a multipart/form-data body into (headers, data) parts, byte-exact."""
    parts = []
    delimiter = b"--" + boundary
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without a blank line after its headers")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, data.removesuffix(b"\r\n")))
    return parts


def _disposition_param(value: str, name: str) -> str:
    match = re.search(rf'{name}="((?:[^"\\]|\\.)*)"', value)
    return match.group(1) if match else ""


class TestSite:
    """The server and what it received. ``with TestSite() as site: site.port ...``."""

    __test__ = False  # not a pytest test class

    def __init__(self, port: int = 0, mounts: dict[str, Path] | None = None) -> None:
        self.received: list[Upload] = []
        # URL prefix ("/zoo/") -> folder served under it, besides site/.
        self.mounts = dict(mounts or {})
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> TestSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TestSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def take(self, flow: str | None = None) -> list[Upload]:
        """Remove and return what was received (for ``flow`` only, when given)."""
        with self._lock:
            out = [u for u in self.received if flow is None or u.flow == flow]
            self.received = [u for u in self.received if u not in out]
        return out

    def _keep(self, uploads: list[Upload]) -> None:
        with self._lock:
            self.received.extend(uploads)

    def _handler_class(self) -> type[SimpleHTTPRequestHandler]:
        site = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(SITE_DIR), **kwargs)  # type: ignore[arg-type]

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

            def translate_path(self, path: str) -> str:
                for prefix, folder in site.mounts.items():
                    if path.startswith(prefix):
                        self.directory = str(folder)
                        return super().translate_path(path[len(prefix) - 1 :])
                return super().translate_path(path)

            def end_headers(self) -> None:
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

            def do_POST(self) -> None:
                match = re.fullmatch(r"/upload/([a-z]+)", self.path)
                length = int(self.headers.get("Content-Length") or 0)
                ctype = self.headers.get("Content-Type", "")
                boundary = re.search(r"boundary=\"?([^\";]+)\"?", ctype)
                if not match or not boundary or length > MAX_BODY:
                    self.send_error(HTTPStatus.BAD_REQUEST, "expected multipart/form-data")
                    return
                body = self.rfile.read(length)
                uploads = []
                for headers, data in parse_multipart(body, boundary.group(1).encode()):
                    disposition = headers.get("content-disposition", "")
                    if "filename=" not in disposition:
                        continue
                    uploads.append(
                        Upload(
                            flow=match.group(1),
                            host=self.headers.get("Host", ""),
                            field=_disposition_param(disposition, "name"),
                            filename=_disposition_param(disposition, "filename"),
                            content_type=headers.get("content-type", ""),
                            data=data,
                        )
                    )
                site._keep(uploads)
                if match.group(1) == "form":
                    names = "".join(f"<li>{u.filename} ({len(u.data)} B)</li>" for u in uploads)
                    page = (
                        "<!doctype html><meta charset=utf-8><title>Posted</title>"
                        f'<h1 id="received" data-count="{len(uploads)}">'
                        f"Received {len(uploads)} files</h1><ul>{names}</ul>"
                    )
                    self._reply("text/html; charset=utf-8", page.encode())
                else:
                    self._reply("application/json", json.dumps({"count": len(uploads)}).encode())

            def _reply(self, ctype: str, payload: bytes) -> None:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


if __name__ == "__main__":  # pragma: no cover - manual use
    with TestSite(int(sys.argv[1]) if len(sys.argv) > 1 else 8765) as running:
        print(f"test site on http://127.0.0.1:{running.port}/ (Ctrl+C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
