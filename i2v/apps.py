from django.apps import AppConfig


class I2vConfig(AppConfig):
    name = "i2v"
    verbose_name = "i2v accounts"

    def ready(self):
        from django.urls import register_converter

        from i2v.lib import timestamps
        from i2v.lib.auth import connect_signals
        from i2v.lib.ids import IdConverter

        connect_signals()
        timestamps.connect()
        # Before any URLconf is read (they are, on the first request or check): every path's ids are <id:...>.
        register_converter(IdConverter, "id")
