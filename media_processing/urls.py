from django.urls import path

from . import views

app_name = "media_processing"

urlpatterns = [
    path("api/images/<id:asset_id>/processing-status", views.processing_status, name="api_status"),
    path("api/images/<id:asset_id>/retry-processing", views.retry_processing, name="api_retry"),
    path("api/admin/processing-queue", views.processing_queue, name="api_queue"),
    path("api/library/generate-thumbnails", views.generate_thumbnails, name="api_generate_thumbnails"),
]
