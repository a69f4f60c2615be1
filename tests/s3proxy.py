"""A fault-injecting HTTP proxy in front of the test S3 server: by rule
(method, path part, nth matching request) it answers 500 or 503, stalls,
drops the connection before or after the server saw the request, or cuts
a response short. Requests are signed for the proxy's address, which the
proxy passes on unchanged, so the server accepts them."""

import http.client
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_ERRORS = {
    "403": (403, "AccessDenied", "Access Denied"),
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}


@dataclass
class ProxyRule:
    method: str  # "PUT", "GET", "HEAD", "DELETE", or "" for any
    path: str = ""  # applies to request paths containing this
    nth: int = 1  # the first matching request that faults (1-based)
    times: int = 1  # how many consecutive matching requests fault
    # "403" | "500" | "503" | "slow" (answer after `seconds`) |
    # "stall" (answer nothing for `seconds`, then close) |
    # "drop" (close without passing the request on) | "drop-after" (pass it
    # on, then close without the answer) | "cut" (half the answer, then close) |
    # "unconditional" (a refused conditional write answered as done, as by a
    # service that ignores If-None-Match)
    action: str = "503"
    seconds: float = 0.0
    seen: int = 0
    fired: int = 0

    def fires(self, method: str, path: str) -> bool:
        if self.method and method != self.method or self.path not in path:
            return False
        self.seen += 1
        if self.nth <= self.seen < self.nth + self.times:
            self.fired += 1
            return True
        return False


class FaultProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.rules: list[ProxyRule] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    rule = next((r for r in proxy.rules if r.fires(self.command, self.path)), None)
                action = rule.action if rule else None
                if action in _ERRORS:
                    return self._error(*_ERRORS[action])
                if action == "stall":
                    time.sleep(rule.seconds)
                    self.close_connection = True
                    return
                if action == "slow":
                    time.sleep(rule.seconds)
                if action == "drop":
                    self.close_connection = True
                    return
                status, headers, data = proxy.forward(self.command, self.path, self.headers, body)
                if action == "drop-after":
                    self.close_connection = True
                    return
                if action == "unconditional" and status == 412:
                    status, headers, data = 200, [("ETag", '"unconditional"')], b""
                # A HEAD answer's length is the object's, not the (empty) body's.
                keep = ("content-length",) if self.command == "HEAD" else ()
                self.send_response(status)
                for name, value in headers:
                    lower = name.lower()
                    if lower in keep or lower not in (
                        "connection",
                        "transfer-encoding",
                        "content-length",
                    ):
                        self.send_header(name, value)
                if not keep:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if action == "cut":
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                elif self.command != "HEAD":
                    self.wfile.write(data)

            def _error(self, status: int, code: str, message: str):
                data = (
                    f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                    f"<Message>{message}</Message></Error>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def forward(self, method: str, path: str, headers, body: bytes):
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in ("connection", "expect"):
                    conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def fired(self) -> int:
        with self.lock:
            return sum(r.fired for r in self.rules)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
