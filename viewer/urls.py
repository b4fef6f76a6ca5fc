from django.urls import path

from . import views

app_name = "viewer"

urlpatterns = [
    path("assets/<id:asset_id>/", views.asset_details, name="details"),
    path("assets/<id:asset_id>/favorite", views.toggle_favorite, name="favorite"),
    path("assets/<id:asset_id>/hide", views.toggle_hidden, name="hide"),
]
