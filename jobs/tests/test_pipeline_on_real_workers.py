"""A whole pipeline, both stages, run by real Celery workers on Redis.

Same harness as media_processing/tests/test_worker_kill.py: the workers are
subprocesses on the PostgreSQL test database and Redis database 14 (the test
skips on SQLite, and fails in CI if Redis is missing). Steps travel through the
generation queue, their outputs through the media queues, exactly as in production.
"""

import pytest

from jobs.models import Pipeline
from jobs.models import send_steps as real_send_steps
from media_processing.models import ProcessingJob
from media_processing.tests.test_worker_kill import broker_db, redis_app, wait_for, workers  # noqa: F401

from .conftest import make_source
from .test_tasks import I2V, request

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_runs_a_two_stage_pipeline_on_real_workers(owner, workers, monkeypatch):  # noqa: F811
    # The jobs tests record step messages instead of sending them; this one sends for real.
    monkeypatch.setattr("jobs.models.send_steps", real_send_steps)
    workers.start("generation", queues="generation")
    workers.start("media", queues="thumbnails,variants,backfill")
    sources = [make_source(owner), make_source(owner)]
    i2i = {"model": "local-i2i", "images_per_prompt": 1, "aspect_ratio": "auto", "quality": "draft", "negative_prompt": ""}
    pipeline = Pipeline.objects.create_from_request(owner, request(sources, prompts=["a red fox", "a blue owl"], i2i=i2i, i2v=I2V))

    def finished():
        pipeline.refresh_from_db()
        return pipeline.status in ("completed", "failed")

    wait_for(finished, 90, "the pipeline to finish", workers)
    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    kinds = sorted(o.asset.kind for o in pipeline.outputs.select_related("asset"))
    assert kinds == ["image"] * 4 + ["video"] * 4
    assert pipeline.progress_done == pipeline.planned_steps == 8

    def processed():
        return not ProcessingJob.objects.exclude(status="completed").exists()

    wait_for(processed, 60, "the outputs' renditions and posters", workers)
    for output in pipeline.outputs.select_related("asset"):
        assert output.asset.renditions.get("300"), output.asset  # thumbnails and video posters exist
