"""Whole pipelines run by real Celery workers on Redis, and a generation worker
killed mid-step.

Same harness as the media worker tests (i2v/testing/workers.py): the workers
are subprocesses on the PostgreSQL test database and Redis database 14 (the
test skips on SQLite, and fails in CI if Redis is missing). Steps travel through
the generation queue, their outputs through the media queues, exactly as in
production; the sweepers run on their own worker, driven by beat.
"""

import time

import pytest

from i2v.lib.workqueue import WorkQueueQuerySet
from i2v.testing.workers import broker_db, cluster, redis_app  # noqa: F401
from jobs.models import Pipeline, StepQuerySet
from media_processing.models import ProcessingJob

from .conftest import make_source
from .test_tasks import I2V, request

pytestmark = pytest.mark.django_db(transaction=True)
WAKE_DISPATCHER = StepQuerySet.wake_dispatcher  # the real one, before the jobs conftest records it instead
I2I = {"model": "local-i2i", "images_per_prompt": 1, "aspect_ratio": "auto", "quality": "draft", "negative_prompt": ""}


@pytest.fixture(autouse=True)
def real_messages(monkeypatch):
    # The jobs tests record step messages instead of sending them; these send for real.
    monkeypatch.setattr(StepQuerySet, "send_many", WorkQueueQuerySet.send_many)
    monkeypatch.setattr(StepQuerySet, "wake_dispatcher", WAKE_DISPATCHER)


def test_it_runs_a_two_stage_pipeline_on_real_workers(owner, cluster):  # noqa: F811
    cluster.control()  # the dispatcher sends the steps; the sweepers stand by
    cluster.worker("generation", queues="generation")
    cluster.worker("media", queues="thumbnails,variants,backfill")
    sources = [make_source(owner), make_source(owner)]
    pipeline = Pipeline.objects.create_from_request(owner, request(sources, prompts=["a red fox", "a blue owl"], i2i=I2I, i2v=I2V))

    def finished():
        pipeline.refresh_from_db()
        return pipeline.status in ("completed", "failed")

    cluster.wait(finished, 90, "the pipeline to finish")
    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    kinds = sorted(o.asset.kind for o in pipeline.outputs.select_related("asset"))
    assert kinds == ["image"] * 4 + ["video"] * 4
    assert pipeline.progress_done == pipeline.planned_steps == 8

    def processed():
        return not ProcessingJob.objects.exclude(status="completed").exists()

    cluster.wait(processed, 60, "the outputs' renditions and posters")
    for output in pipeline.outputs.select_related("asset"):
        assert output.asset.renditions.get("300"), output.asset  # thumbnails and video posters exist


def test_it_finishes_a_killed_generation_workers_step_exactly_once(owner, cluster):  # noqa: F811
    cluster.control()
    doomed = cluster.worker("doomed", queues="generation", I2V_TEST_TASK_DELAY="60")
    pipeline = Pipeline.objects.create_from_request(owner, request([make_source(owner)], prompts=["a red fox", "a blue owl"], i2i=I2I))
    steps = pipeline.steps.order_by("order")

    def held():
        # The step made its image and holds it, not yet recorded: the worst moment to die.
        return steps.filter(status="running").exists()

    cluster.wait(held, 40, "the worker to generate a step")
    victim = steps.get(status="running")
    cluster.kill(doomed)
    killed = time.monotonic()
    cluster.worker("rescuer", queues="generation")

    def finished():
        pipeline.refresh_from_db()
        return pipeline.status in ("completed", "failed")

    cluster.wait(finished, 40, "the pipeline to finish")
    assert pipeline.status == "completed", [s.error for s in steps]
    assert time.monotonic() - killed < 40
    victim.refresh_from_db()
    assert victim.attempts == 2, "the killed step ran once more, from its lease"
    assert [s.outputs.count() for s in steps] == [1, 1], "each step stored its image exactly once"
    assert pipeline.outputs.count() == 2
