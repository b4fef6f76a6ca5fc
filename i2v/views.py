from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_http_methods, require_safe

from .lib.methods import posted_to
from .models import ApiToken


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def account_settings(request):
    """The API token: shown once when made, like a password. POST makes a new one and redirects,
    the value riding in the session to the next page only: a reload then neither resubmits the
    form (replacing the token just copied) nor shows the value again."""
    if request.method == "POST":
        request.session[_NEW_TOKEN] = ApiToken.issue(request.user)
        return redirect("settings")
    new_token = request.session.pop(_NEW_TOKEN, None)
    revoked = request.session.pop(_REVOKED, False)
    token = ApiToken.objects.filter(user=request.user).first()
    return render(request, "settings.html", {"token": token, "new_token": new_token, "revoked": revoked})


_NEW_TOKEN = "new_api_token"
_REVOKED = "api_token_revoked"


@posted_to("settings")
@login_required
def revoke_token(request):
    """Delete the API token (a leaked one, a script retired): the page then says it's gone, once."""
    if ApiToken.revoke(request.user):
        request.session[_REVOKED] = True
    return redirect("settings")


@require_safe
def favicon(request):
    """Pages without our <link rel="icon"> (the admin's) make browsers ask for /favicon.ico."""
    return redirect(static("favicon.svg"), permanent=True)
