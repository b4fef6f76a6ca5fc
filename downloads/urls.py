from django.urls import path

from . import views

app_name = "downloads"

urlpatterns = [
    path("downloads/zip", views.archive, name="zip"),
    path("downloads/outputs/<id:output_id>", views.output_file, name="output"),
    path("downloads/assets/<id:asset_id>", views.asset_file, name="asset"),
]
