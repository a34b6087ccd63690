import json
import threading
import unittest
import urllib.request
from http.server import ThreadingHTTPServer

from app.server import Handler


class ServerTest(unittest.TestCase):
    def test_endpoints(self):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        try:
            with urllib.request.urlopen(base + "/healthz") as r:
                self.assertEqual(json.load(r), {"status": "ok"})
            with urllib.request.urlopen(base + "/api/info") as r:
                self.assertEqual(json.load(r)["service"], "python-example")
        finally:
            httpd.shutdown()


if __name__ == "__main__":
    unittest.main()
