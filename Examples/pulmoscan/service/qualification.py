"""Local qualification endpoint of PulmoScan AI: the screening head over HTTP, standard library only.

Run as service/bin/qualify-server by `ivpack qualify`, which starts it in the release folder
with a free loopback port, waits for GET /healthz, sends its probes and the reference cases of
qualification/labels.json, measures latency, concurrency, accuracy and resource use, then stops
it with SIGTERM. The production front end (service/app.py, FastAPI) is not involved: this
server needs nothing beyond python3, so the qualification runs before any dependency is
installed.

  GET  /healthz       200 {"status": "ok", "full_version": ...}; served only once the model is loaded
  GET  /version       200 the version information of service.app.version_info()
  POST /v1/classify   body: the raw PGM bytes (application/octet-stream)
                      200 {"label": "nodule"|"clear", "score": ..., "full_version": ..., "input_sha256": ...}
                      400 {"error": ...} for a malformed image, 411 without Content-Length,
                      413 for a body over MAX_BODY bytes

Binds 127.0.0.1 only. Errors are always JSON, never a traceback page.

Test-only: PULMOSCAN_QUAL_DELAY_MS (default 0) adds that many milliseconds of sleep to every
/v1/classify request, so that a test can make a latency threshold fail. Never set it on site.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import __version__, screening
from .app import version_info

#: Largest request body taken, in bytes (1 MiB); a larger one is answered 413.
MAX_BODY = 1 << 20
#: Largest oversized body read and discarded before the 413, so that a client still sending it
#: reads the answer instead of a connection reset (closing on unread data makes the kernel send
#: RST: 12 of 15 runs of the 2 MiB test failed so). Anything larger is answered unread.
MAX_DRAIN = 16 << 20
#: Seconds an idle connection is kept before its thread gives up on it.
IDLE_TIMEOUT = 30
DELAY_VARIABLE = "PULMOSCAN_QUAL_DELAY_MS"
PORT_VARIABLE = "IVPACK_QUALIFY_PORT"


class Stop(BaseException):
    """Raised by SIGTERM or SIGINT while the model loads, before there is a server to shut down.

    A BaseException, as KeyboardInterrupt: socketserver swallows an Exception raised while it
    handles a connection (3 of 25 test runs then ignored SIGTERM).
    """


class Handler(BaseHTTPRequestHandler):
    """One request. The model, the delay and the log switch live on the server."""

    server: "QualifyServer"
    protocol_version = "HTTP/1.1"  # keep-alive, and an immediate "100 Continue" for curl
    timeout = IDLE_TIMEOUT

    def version_string(self) -> str:
        return "PulmoScanQualify/" + __version__

    def send_json(self, status: int, document: dict, close: bool = False, allow: str | None = None) -> None:
        body = json.dumps(document, sort_keys=True).encode("utf-8")
        self.send_response(status)
        if allow:
            self.send_header("Allow", allow)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """Replaces http.server's HTML error page (bad request line, unsupported method) with JSON."""
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]}, close=True)

    def log_message(self, format, *args):
        if self.server.log_requests:
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))

    def body_length(self) -> int | None:
        """The declared body length, after answering 411/413/400 itself when it is unusable."""
        if self.headers.get("Transfer-Encoding"):
            self.send_json(411, {"error": "chunked bodies are not taken; send Content-Length"}, close=True)
            return None
        declared = self.headers.get("Content-Length")
        if declared is None:
            self.send_json(411, {"error": "Content-Length required"}, close=True)
            return None
        if not declared.strip().isdigit():
            self.send_json(400, {"error": "Content-Length is not a number"}, close=True)
            return None
        length = int(declared)
        if length > MAX_BODY:
            if length <= MAX_DRAIN and not self.expecting_continue:
                remaining = length
                while remaining > 0 and (chunk := self.rfile.read(min(remaining, 1 << 16))):
                    remaining -= len(chunk)
            self.send_json(413, {"error": f"body of {length} bytes; at most {MAX_BODY} are taken"}, close=True)
            return None
        return length

    expecting_continue = False

    def handle_expect_100(self):
        # A client that waits for "100 Continue" is refused before it sends an oversized body.
        if self.command == "POST" and self.path == "/v1/classify":
            self.expecting_continue = True
            if self.body_length() is None:
                return False
            self.expecting_continue = False
        return super().handle_expect_100()

    def do_GET(self):
        if self.path == "/healthz":
            self.send_json(200, {"status": "ok", "full_version": __version__})
        elif self.path == "/version":
            self.send_json(200, version_info())
        elif self.path == "/v1/classify":
            self.method_not_allowed("POST")
        else:
            self.send_json(404, {"error": f"no such resource: {self.path[:200]}"})

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        if self.path != "/v1/classify":
            if self.path in ("/healthz", "/version"):
                self.method_not_allowed("GET")
            else:
                self.send_json(404, {"error": f"no such resource: {self.path[:200]}"}, close=True)
            return
        length = self.body_length()
        if length is None:
            return
        data = self.rfile.read(length)
        if len(data) != length:
            self.send_json(400, {"error": "body shorter than Content-Length"}, close=True)
            return
        if self.server.delay > 0:
            time.sleep(self.server.delay)
        try:
            result = self.server.screener.classify(screening.read_pgm(data))
        except screening.ImageRejected as e:
            self.send_json(400, {"error": f"malformed image: {e}"})
            return
        except Exception:  # a bug must not become a traceback page or a dead thread
            traceback.print_exc(file=sys.stderr)
            self.send_json(500, {"error": "internal error while classifying"})
            return
        self.send_json(200, {
            "label": result.label,
            "score": result.score,
            "full_version": __version__,
            "input_sha256": hashlib.sha256(data).hexdigest(),
        })

    def method_not_allowed(self, allowed: str) -> None:
        self.send_json(405, {"error": f"method {self.command} not allowed; use {allowed}"}, close=True, allow=allowed)


class QualifyServer(ThreadingHTTPServer):
    """The HTTP server with the loaded model; one thread per connection, none waited for at exit."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, screener: screening.Screener, delay_ms: int = 0, log_requests: bool = False):
        self.screener = screener
        self.delay = delay_ms / 1000.0
        self.log_requests = log_requests
        super().__init__(("127.0.0.1", port), Handler)


def delay_from_environment(environ=os.environ) -> int:
    text = environ.get(DELAY_VARIABLE, "").strip() or "0"
    if not text.isdigit():
        raise ValueError(f"{DELAY_VARIABLE}={text!r}: a whole number of milliseconds expected")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="qualify-server",
        description="PulmoScan AI qualification endpoint on 127.0.0.1 (run by `ivpack qualify`).")
    parser.add_argument("--port", type=int, default=None,
                        help=f"TCP port on 127.0.0.1 (default: ${PORT_VARIABLE}); 0 picks a free one")
    parser.add_argument("--log-requests", action="store_true", help="log one line per request on stderr")
    args = parser.parse_args(argv)
    port = args.port
    if port is None:
        text = os.environ.get(PORT_VARIABLE, "")
        if not text.isdigit():
            parser.error(f"give --port or set {PORT_VARIABLE}")
        port = int(text)
    if not 0 <= port <= 65535:
        parser.error(f"port {port} is out of range")
    try:
        delay_ms = delay_from_environment()
    except ValueError as e:
        parser.error(str(e))

    running: list[QualifyServer] = []

    def stop(signum, frame):
        if not running:
            raise Stop()
        # shutdown() waits for serve_forever, which runs in this (the main) thread: call it from another.
        threading.Thread(target=running[0].shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        started = time.perf_counter()
        screener = screening.Screener()
        # The model must answer before the server does: classify the built-in images once.
        for blob, expected in ((True, "nodule"), (False, "clear")):
            found = screener.classify(screening.read_pgm(screening.reference_image(blob))).label
            if found != expected:
                raise screening.ModelError(f"built-in {expected} image classified as {found}")
        loaded_ms = (time.perf_counter() - started) * 1000
        server = QualifyServer(port, screener, delay_ms, args.log_requests)
        running.append(server)
    except Stop:
        return 0
    except (screening.ModelError, OSError) as e:
        print(f"qualify-server: {e}", file=sys.stderr)
        return 1
    host, bound = server.server_address[:2]
    note = f", test delay {delay_ms} ms per classification" if delay_ms else ""
    print(f"qualify-server: PulmoScan AI {__version__} listening on http://{host}:{bound}/ "
          f"(model loaded in {loaded_ms:.0f} ms{note})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    print("qualify-server: stopped", flush=True)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "qualify-server"
    sys.exit(main())
