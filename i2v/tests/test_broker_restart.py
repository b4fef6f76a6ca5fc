"""The broker's Redis restarts without persistence while a media queue is busy:
every message it held is gone. The sweeper sees that the broker holds fewer
messages than the queue's rows say are in flight, and sends the lost ones again
while new uploads keep the queue busy; every job completes, once.

A Redis of the test's own (another port, no persistence) is the broker, so the
shared server is never touched; the rest is the harness of i2v/testing/workers.py.
"""

import pytest
import redis

from i2v.testing.workers import Cluster, PrivateRedis, broker_db, celery_app, free_port  # noqa: F401
from media_processing.models import ProcessingJob
from media_processing.tests.conftest import encoded, picture, stored_asset

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private_redis(broker_db):  # noqa: F811 - broker_db: PostgreSQL and Redis checks
    server = PrivateRedis(free_port())
    server.start()
    yield server
    server.stop()


def upload(owner, n, start=0):
    assets = [stored_asset(owner, encoded(picture((900 + start + i, 600)))) for i in range(n)]
    for asset in assets:
        ProcessingJob.objects.schedule_upload(asset)  # autocommit: sent at once
    return assets


def test_it_resends_what_a_restarted_broker_lost_while_the_queue_is_busy(owner, private_redis, tmp_path):
    celery_app(private_redis.url)
    cluster = Cluster(tmp_path, broker=private_redis.url)
    try:
        first = upload(owner, 30)
        cluster.worker("media", I2V_TEST_TASK_DELAY="0.3")
        cluster.control()
        done = ProcessingJob.objects.filter(status="completed")
        cluster.wait(lambda: done.count() >= 6, 60, "some jobs to complete")

        private_redis.stop()
        private_redis.start()  # empty: the queued messages are gone
        assert redis.Redis(port=private_redis.port).llen("thumbnails") == 0
        second = upload(owner, 10, start=100)  # the queue is busy again at once

        total = 2 * (len(first) + len(second))
        cluster.wait(lambda: done.count() == total, 120, "every job to complete")

        assert ProcessingJob.objects.count() == total
        assert max(ProcessingJob.objects.values_list("attempts", flat=True)) <= 2
        resent = [line for line in cluster.log("control").splitlines() if "the broker lost" in line]
        assert resent, "the sweeper noticed the lost messages"
    finally:
        cluster.stop_all()
