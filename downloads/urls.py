from django.urls import path

from . import views

app_name = "downloads"

urlpatterns = [
    path("downloads/zip", views.archive, name="zip"),
    path("downloads/outputs/<int:output_id>", views.output_file, name="output"),
    path("downloads/assets/<int:asset_id>", views.asset_file, name="asset"),
]
