from django.apps import AppConfig


class MediaProcessingConfig(AppConfig):
    name = "media_processing"
    verbose_name = "media processing"
