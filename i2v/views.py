from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_http_methods

from .models import ApiToken


@require_http_methods(["GET", "POST"])
@login_required
def account_settings(request):
    """The API token: shown once when made, like a password; POST makes a new one."""
    new_token = ApiToken.issue(request.user) if request.method == "POST" else None
    token = ApiToken.objects.filter(user=request.user).first()
    return render(request, "settings.html", {"token": token, "new_token": new_token})


@require_GET
def favicon(request):
    """Pages without our <link rel="icon"> (the admin's) make browsers ask for /favicon.ico."""
    return redirect(static("favicon.svg"), permanent=True)
