import re

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from library.views import media

from . import views
from .forms import LoginForm
from .health import healthz
from .openapi import openapi_json

handler400 = "i2v.lib.errors.bad_request"
handler404 = "i2v.lib.errors.not_found"
handler500 = "i2v.lib.outage.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="jobs:page"), name="home"),
    path("login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/", views.account_settings, name="settings"),
    path("settings/token/revoke", views.revoke_token, name="revoke_token"),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("api/openapi.json", openapi_json, name="openapi"),
    path("admin/", admin.site.urls),
    path("", include("jobs.urls")),
    path("", include("library.urls")),
    path("", include("media_processing.urls")),
    path("", include("prompts.urls")),
    path("", include("hooks.urls")),
    path("", include("viewer.urls")),
    path("", include("downloads.urls")),
]
# Every media file is served through the app, which checks its owner (library/views.py).
urlpatterns.append(re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<name>.+)$", media, name="media"))
