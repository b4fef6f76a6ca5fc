from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "hooks"
    verbose_name = "Outgoing webhooks"

    def ready(self):
        from . import receivers  # noqa: F401
