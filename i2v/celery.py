import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")

app = Celery("i2v")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
