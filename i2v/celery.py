import os

from celery import Celery, signals

from i2v.lib import fsbroker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "i2v.settings")
fsbroker.register()  # filesystem:// is kombu's transport with its messages written whole

app = Celery("i2v")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.after_setup_logger.connect
def _quiet_routine_tasks(**kwargs):
    from django.conf import settings

    from i2v.lib.observability import quiet_routine_tasks

    quiet_routine_tasks(settings.CELERY_BEAT_SCHEDULE)
