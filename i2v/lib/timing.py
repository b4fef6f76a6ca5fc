"""Server-Timing header: wall time of the request, SQL time and query count.

bench/ reads it to report server time and queries per request from outside the
process, the same way a browser's devtools would show it. Only staff get it (and
everyone when DEBUG is on): to anyone else it would say how expensive each
request is, which helps whoever looks for a slow one to hammer.
"""

import time

from django.conf import settings
from django.db import connection


class _QueryMeter:
    def __init__(self):
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - start


class ServerTimingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.enabled = settings.SERVER_TIMING

    def __call__(self, request):
        if not self.enabled:
            return self.get_response(request)
        meter = _QueryMeter()
        start = time.perf_counter()
        with connection.execute_wrapper(meter):
            response = self.get_response(request)
        total_ms = (time.perf_counter() - start) * 1000
        if not (settings.DEBUG or _is_staff(request)):
            return response
        response["Server-Timing"] = (
            f'app;dur={total_ms:.2f}, db;dur={meter.seconds * 1000:.2f};desc="{meter.count} queries"'
        )
        return response


def _is_staff(request):
    # request.user is set by then (the session's, or the API token's); static files
    # served by whitenoise never reach the authentication middleware.
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)
