"""A local stand-in for the Hugging Face Hub on 127.0.0.1, for download tests (no network).

It implements what ``huggingface_hub`` (``HfApi.list_repo_tree``, ``hf_hub_download``,
``snapshot_download``) asks of the hub:

* ``GET /api/models/{repo}/revision/{rev}`` -> ``{"id", "sha", "siblings"}``;
* ``GET /api/models/{repo}/tree/{rev}[/{path}]`` -> the file list with sizes, git blob ids
  and, for large files, LFS SHA-256 and size;
* ``HEAD|GET /{repo}/resolve/{rev}/{path}`` -> the file, with ``X-Repo-Commit``, ``ETag`` /
  ``X-Linked-Etag`` (SHA-256 for LFS files, git blob id otherwise), ``Content-Length`` /
  ``X-Linked-Size``, and ``Range`` requests answered with 206 (resume).

Faults for tests: ``interrupt`` (paths whose first GET stops three quarters in, closing
the connection), ``corrupt`` (paths served with flipped bytes under the true checksum),
``delay`` (seconds to sleep per 64 KiB chunk, so a browser can see progress), ``gated``.
Every request is recorded in ``requests`` (method, path, Range header).

    with HubStandIn({"org/tiny": {"config.json": b"...", "model.safetensors": b"..."}}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
CHUNK = 64 * 1024


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path: str) -> bool:
    return path.endswith(LFS_SUFFIXES)


def files_of(folder: str | Path) -> dict[str, bytes]:
    """Every file of a ``save_pretrained`` folder, by relative path."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class HubStandIn:
    """The server (see the module docstring); a context manager that starts and stops it."""

    def __init__(
        self, repos: dict[str, dict[str, bytes]], sha: str = "0123456789abcdef0123456789abcdef01234567"
    ) -> None:
        self.repos = repos
        self.sha = sha
        self.interrupt: set[str] = set()
        self.corrupt: set[str] = set()
        self.gated: set[str] = set()
        self.delay = 0.0
        self.requests: list[tuple[str, str, str | None]] = []
        self._interrupted: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the hub's answers ---------------------------------------------------------------------
    def _entry(self, path: str, data: bytes) -> dict[str, Any]:
        e: dict[str, Any] = {"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)}
        if is_lfs(path):
            e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return e

    def _split(self, rest: str) -> tuple[str, str] | None:
        """'org/name/...' -> ('org/name', '...') for a known repo."""
        parts = rest.split("/")
        for n in (2, 1):
            repo = "/".join(parts[:n])
            if repo in self.repos:
                return repo, "/".join(parts[n:])
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _json(self, obj: Any, status: int = 200) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, status: int, code: str, message: str) -> None:
                body = json.dumps({"error": message}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                path = unquote(urlparse(self.path).path)
                with hub._lock:
                    hub.requests.append((self.command, path, self.headers.get("Range")))
                if path.startswith("/api/models/"):
                    return self._api(path[len("/api/models/") :])
                split = hub._split(path.lstrip("/"))
                if split is None or "/resolve/" not in "/" + split[1]:
                    return self._error(404, "RepoNotFound", "Repository not found")
                repo, rest = split
                if repo in hub.gated:
                    return self._error(403, "GatedRepo", "Access to this repository is restricted")
                _, _, tail = rest.partition("resolve/")
                _rev, _, name = tail.partition("/")
                data = hub.repos[repo].get(name)
                if data is None:
                    return self._error(404, "EntryNotFound", f"{name} not found")
                self._file(repo, name, data)

            def _api(self, rest: str) -> None:
                split = hub._split(rest)
                if split is None:
                    return self._error(404, "RepoNotFound", "Repository not found")
                repo, tail = split
                if repo in hub.gated:
                    return self._error(403, "GatedRepo", "Access to this repository is restricted")
                files = hub.repos[repo]
                if tail.startswith("revision/"):
                    return self._json(
                        {
                            "id": repo,
                            "modelId": repo,
                            "sha": hub.sha,
                            "private": False,
                            "siblings": [{"rfilename": p} for p in files],
                        }
                    )
                if tail.startswith("tree/"):
                    sub = tail[len("tree/") :].partition("/")[2]
                    return self._json([hub._entry(p, d) for p, d in files.items() if p.startswith(sub)])
                return self._error(404, "EntryNotFound", "unknown API route")

            def _file(self, repo: str, name: str, data: bytes) -> None:
                etag = hashlib.sha256(data).hexdigest() if is_lfs(name) else git_blob_id(data)
                body = data
                if name in hub.corrupt:  # same size, flipped bytes, the true checksum
                    body = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[len("bytes=") :].split("-")[0] or 0)
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", hub.sha)
                self.send_header("ETag", f'"{etag}"')
                if is_lfs(name):
                    self.send_header("X-Linked-Etag", f'"{etag}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if self.command == "HEAD":
                    return
                cut = None
                with hub._lock:
                    if name in hub.interrupt and name not in hub._interrupted and not start:
                        hub._interrupted.add(name)
                        cut = len(body) * 3 // 4  # past the client's first 10 MB read, so bytes are kept
                pos = start
                end = len(body) if cut is None else cut
                while pos < end:
                    n = min(CHUNK, end - pos)
                    self.wfile.write(body[pos : pos + n])
                    self.wfile.flush()
                    pos += n
                    if hub.delay:
                        time.sleep(hub.delay)
                if cut is not None:  # drop the connection half-way through the body
                    self.close_connection = True
                    self.connection.shutdown(2)

        return Handler
