from django.apps import AppConfig


class I2vConfig(AppConfig):
    name = "i2v"
    verbose_name = "i2v accounts"
