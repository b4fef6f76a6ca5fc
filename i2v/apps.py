from django.apps import AppConfig


class I2vConfig(AppConfig):
    name = "i2v"
    verbose_name = "i2v accounts"

    def ready(self):
        from i2v.lib import timestamps
        from i2v.lib.auth import connect_signals

        connect_signals()
        timestamps.connect()
