"""The WSGI application, without the server process's environment in each request.

granian (i2v/web.py) puts the whole process environment into every request's
WSGI environ, so request.META would hold DATABASE_URL, SECRET_KEY and every other
setting, where an error report or a debug page could show them. Those keys are
dropped as each request arrives (a few microseconds); the request's own CGI
variables and headers (HTTP_*) never share a name with them and are kept.

Each model's provider is loaded with it (load_providers()). Once the application is loaded, what it loaded is frozen out of the garbage collector's
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


def load_providers():
    """Every model's provider, and the SDK it wraps, loaded with the application rather than by the
    first request that asks one: the New pipeline page asks each model's provider whether its key is
    set, and importing the SDKs (openai, google-genai, replicate) made each worker's first view of
    that page take 1.3-2.2 s. Some 1.6 s and 54 MB a process, once (bench/web_start.py); frozen below with the rest."""
    from django.conf import settings

    from jobs.providers import ProviderError, get_provider

    for model_id in settings.GENERATION_MODELS:
        try:
            get_provider(model_id)
        except ProviderError:
            pass  # a catalog naming no provider: the pages that offer the model say so


application = without_process_environment(get_wsgi_application(), list(os.environ))
load_providers()
gc.freeze()
