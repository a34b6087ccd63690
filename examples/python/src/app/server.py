"""GET /api/info answers JSON about the service, GET /healthz {"status": "ok"}.

HOST (default 0.0.0.0) and PORT (default 8080) choose the address.
"""

import json
import os
import platform
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    server_version = "python-example"

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        if self.path == "/healthz":
            self._json(200, {"status": "ok"})
        elif self.path == "/api/info":
            self._json(200, {
                "service": "python-example",
                "language": "python",
                "version": platform.python_version(),
                "uid": os.getuid(),
                "uptime_s": int(time.monotonic() - STARTED),
            })
        else:
            self._json(404, {"error": "not found"})

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    host = os.environ.get("HOST", "0.0.0.0")
    port = int(os.environ.get("PORT", "8080"))
    httpd = ThreadingHTTPServer((host, port), Handler)

    def stop(*_):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"python-example listening on {host}:{port}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
