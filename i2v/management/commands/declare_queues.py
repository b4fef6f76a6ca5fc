"""Declares the task queues, and the remote-control queues of the workers named, one after another, before
those workers start: `manage.py declare_queues media@%h generation@%h control@%h`.

`make run` starts its workers together (i2v/run_local.py) on kombu's filesystem transport. There the first
binding to an exchange creates the exchange's table file and locks it only once it is open, so a worker
binding at that moment can read the file empty and die at start (JSONDecodeError in `_queue_bind`, kombu
5.7; seen from an empty var/). Declared here first, every table exists before any worker starts, and the
workers' own bindings only add to it under its lock. On Redis, declaring again is harmless.
"""

from celery.utils.nodenames import default_nodename, host_format
from django.core.management.base import BaseCommand

from i2v.celery import app


class Command(BaseCommand):
    help = "Declare the task queues and the named workers' remote-control queues on the broker."

    def add_arguments(self, parser):
        parser.add_argument("workers", nargs="*", help="worker names as given to `celery worker -n` (media@%%h)")

    def handle(self, *args, workers, **options):
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in app.amqp.queues.values():
                queue(channel).declare()
            mailbox = app.control.mailbox(connection)
            for name in workers:
                # The name the worker itself goes by (celery worker -n), hence the queue it binds.
                mailbox.get_queue(host_format(default_nodename(name)))(channel).declare()
