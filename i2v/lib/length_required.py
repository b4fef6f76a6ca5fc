"""A request body sent chunked (Transfer-Encoding: chunked, no Content-Length) is answered 411 Length Required.

Django under WSGI reads as many bytes of a body as Content-Length says, and none without it: a chunked
JSON body or upload reached the views empty, and was refused for what it seemed to lack ("The body must
be a JSON object", "Send one or more files"). The client is told to send its length instead: JSON to a
script (i2v/lib/errors.py for_scripts()), a page or a toast to a person. nginx in front sends a length
upstream itself (it buffers the body), so this is met by clients that reach the web server directly.
"""

from .errors import error_response, for_scripts, refused_page

MESSAGE = "Send the body with a Content-Length header: a chunked body (Transfer-Encoding: chunked) can't be read here."


class LengthRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower() and not request.META.get("CONTENT_LENGTH"):
            if for_scripts(request):
                return error_response(411, "length_required", MESSAGE)
            return refused_page(request, 411, "Length required", MESSAGE)
        return self.get_response(request)
