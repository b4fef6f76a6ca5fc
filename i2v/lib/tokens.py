from .auth import bearer, token_user
from .errors import error_response


class TokenAuthMiddleware:
    """Authenticate API scripts by `Authorization: Bearer <token>`.

    A token request carries no cookie, so CSRF (which protects cookie sessions)
    does not apply to it. A wrong token is a 401, never a silent anonymous user.

    The token is checked once the view is known (process_view(), before the view runs and
    after CSRF's, which a bearer request is exempt from whatever its token): the list
    entry the view reads first is read with the token's user (i2v/lib/auth.py).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if bearer(request) is not None:
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs):
        token = bearer(request)
        if token is None:
            return None
        user = token_user(request, token)
        if user is None:
            return error_response(401, "bad_token", "The API token is not valid.")
        request.user = user
        return None
