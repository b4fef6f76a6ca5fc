"""The web container's healthcheck: GET /healthz on the app server (granian), exit 0 on 200, 1 otherwise.

Plain Python, no Django (a check every few seconds must cost nothing). The request
names the first of ALLOWED_HOSTS, since Django refuses any other Host, and says
it came over HTTPS, as nginx would, so the production redirect doesn't apply.
"""

import os
import sys
import urllib.error
import urllib.request

host = (os.environ.get("ALLOWED_HOSTS") or "localhost").split(",")[0].strip().lstrip(".") or "localhost"
port = os.environ.get("HEALTHCHECK_PORT", "8000")
request = urllib.request.Request(
    f"http://127.0.0.1:{port}/healthz", headers={"Host": host, "X-Forwarded-Proto": "https", "Accept": "application/json"}
)
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError) as exc:
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
