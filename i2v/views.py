import mimetypes

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET, require_http_methods

from .models import ApiToken

IMMUTABLE = "public, max-age=31536000, immutable"


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


@require_GET
def media(request, name):
    """Serve a stored file through the storage API when no front server does.

    Every stored name is content-addressed (a hash of the bytes), so a name never
    changes meaning and browsers may keep it for a year without asking again.
    """
    if ".." in name.split("/") or name.startswith("/"):
        raise Http404
    try:
        handle = default_storage.open(name)
    except (FileNotFoundError, OSError, ValueError):
        raise Http404 from None
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = IMMUTABLE
    # User-supplied bytes: never sniffed into HTML, and sandboxed should a browser
    # still render one as a document (a polyglot opened in a tab runs nothing).
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response
