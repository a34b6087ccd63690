"""Exit 0 when the running server answers 200 on /healthz (the HEALTHCHECK)."""

import os
import sys
import urllib.request


def main():
    host = os.environ.get("HOST", "127.0.0.1")
    if host == "0.0.0.0":
        host = "127.0.0.1"
    url = f"http://{host}:{os.environ.get('PORT', '8080')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            sys.exit(0 if resp.status == 200 else 1)
    except OSError:
        sys.exit(1)


if __name__ == "__main__":
    main()
