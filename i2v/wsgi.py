"""The WSGI application, without the server process's environment in each request.

granian (i2v/web.py) puts the whole process environment into every request's
WSGI environ, so request.META would hold DATABASE_URL, SECRET_KEY and every other
setting, where an error report or a debug page could show them. Those keys are
dropped as each request arrives (a few microseconds); the request's own CGI
variables and headers (HTTP_*) never share a name with them and are kept.

Once the application is loaded, what it loaded is frozen out of the garbage collector's
sight (gc.freeze(), as Python's documentation suggests for servers): Django, the apps and
their modules, some 90,000 objects that live as long as the process. Each full collection
walked them all, a pause charged to whichever request set it off: the longest of 2,000
uncached Library pages in one process took 95 and 102 ms of CPU, 26 and 34 with them frozen
(docs/benchmarks.md). What requests build later (compiled templates, resolved URLs) is
left to the collector.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

# What a request itself may carry under a name that a process could also have set.
_CGI = {
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
    "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_PORT",
    "GATEWAY_INTERFACE", "HTTPS", "RAW_URI", "REQUEST_URI",
}  # fmt: skip


def without_process_environment(app, names):
    names = tuple(name for name in names if name not in _CGI and not name.startswith(("HTTP_", "wsgi.")))

    def application(environ, start_response):
        for name in names:
            environ.pop(name, None)
        return app(environ, start_response)

    return application


application = without_process_environment(get_wsgi_application(), list(os.environ))
gc.freeze()
