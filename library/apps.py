import mimetypes

from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "library"

    def ready(self):
        from . import signals  # noqa: F401

        # Originals are served with the type their extension names (and nosniff):
        # make sure every accepted format has one, whatever the OS's tables say.
        for mime, ext in (("image/avif", ".avif"), ("image/webp", ".webp"), ("video/webm", ".webm")):
            mimetypes.add_type(mime, ext)
