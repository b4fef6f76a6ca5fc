from django.http import JsonResponse

from i2v.models import ApiToken


class TokenAuthMiddleware:
    """Authenticate API scripts by `Authorization: Bearer <token>`.

    A token request carries no cookie, so CSRF (which protects cookie sessions)
    does not apply to it. A wrong token is a 401, never a silent anonymous user.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = ApiToken.objects.user_for(header[7:].strip())
            if user is None:
                return JsonResponse(
                    {"error": {"code": "bad_token", "message": "The API token is not valid.", "field": None}},
                    status=401,
                )
            request.user = user
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)
