from django.urls import path

from . import api, views

app_name = "library"

urlpatterns = [
    path("library/", views.library_page, name="page"),
    path("library/watch", views.watch, name="watch"),
    path("library/upload", views.upload, name="upload"),
    path("library/<id:asset_id>/tile", views.tile, name="tile"),
    path("library/<id:asset_id>/retry", views.retry, name="retry"),
    path("library/delete", views.delete, name="delete"),
    path("api/library/images", api.images, name="api_images"),
    path("api/images/delete", api.delete_images, name="api_delete"),
    path("api/images/<id:asset_id>", api.image, name="api_image"),
    path("api/images/<id:asset_id>/details", api.image_details, name="api_details"),
]
