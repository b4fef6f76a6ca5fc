from django.apps import AppConfig


class ViewerConfig(AppConfig):
    """The full-screen viewer over every grid of outputs and assets: its details
    endpoint and the asset actions it offers (static/js/viewer.js is its client)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "viewer"
