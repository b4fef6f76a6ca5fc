"""Prompt enhancement and webhooks on real Celery workers (i2v/testing/workers.py): a pipeline
whose prompts a chat model rewrites first, then runs, then is reported to a receiver that
fails twice before it answers: delivered once, after backoff, every attempt signed and logged.

PostgreSQL and Redis only (the harness skips elsewhere); the fakes run in this process on
loopback, and the workers reach them there.
"""

import json

import pytest

from hooks.models import Delivery, DeliveryQuerySet, Endpoint
from i2v.lib.workqueue import WorkQueueQuerySet
from i2v.testing.workers import broker_db, cluster, redis_app  # noqa: F401
from jobs.models import Pipeline, StepQuerySet
from jobs.tests.conftest import make_source
from jobs.tests.fakes.server import Reply
from prompts.tests.fake_llm import KEY, MODEL, FakeChat

from .receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)
WAKE_DISPATCHER = StepQuerySet.wake_dispatcher  # the real one, before the jobs conftest records it instead
I2I = {"model": "local-i2i", "images_per_prompt": 1, "aspect_ratio": "auto", "quality": "draft", "negative_prompt": ""}


@pytest.fixture(autouse=True)
def real_messages(monkeypatch):
    # The other tests record messages instead of sending them; these send for real.
    monkeypatch.setattr(StepQuerySet, "send_many", WorkQueueQuerySet.send_many)
    monkeypatch.setattr(StepQuerySet, "wake_dispatcher", WAKE_DISPATCHER)
    monkeypatch.setattr(DeliveryQuerySet, "send_many", WorkQueueQuerySet.send_many)


def test_it_enhances_runs_and_reports_a_pipeline_through_a_failing_receiver(owner, cluster, settings):  # noqa: F811
    settings.PROMPT_LLM_MODEL = MODEL
    with FakeChat() as llm, Receiver() as receiver:
        receiver.force("POST", "/hook", Reply(503, {"detail": "busy"}), times=2)
        endpoint = Endpoint.objects.create(owner=owner, url=receiver.hook_url, events=["pipeline.finished"])
        env = {
            "PROMPT_LLM_URL": f"{llm.url}/v1", "PROMPT_LLM_KEY": KEY, "PROMPT_LLM_MODEL": MODEL,
            "WEBHOOK_ALLOW_PRIVATE": "1", "WEBHOOK_BACKOFF_SECONDS": "1", "WEBHOOK_TIMEOUT_SECONDS": "3",
        }  # fmt: skip
        cluster.control(**env)
        cluster.worker("generation", queues="generation,webhooks", concurrency=2, **env)
        request = {
            "name": "real", "sources": [make_source(owner).pk], "prompts": ["a fox", "an owl"], "mode": "auto",
            "i2i": I2I, "i2v": None, "enhance_prompts": True,
        }  # fmt: skip
        pipeline = Pipeline.objects.create_from_request(owner, request)

        def delivered():
            return Delivery.objects.filter(status="delivered").exists()

        cluster.wait(delivered, 90, "the pipeline.finished delivery")
        pipeline.refresh_from_db()
        assert pipeline.status == "completed"
        assert pipeline.config["prompts"] == ["a fox, golden hour, 35mm film", "an owl, golden hour, 35mm film"]
        assert llm.prompts_asked == ["a fox", "an owl"]

        delivery = Delivery.objects.get()
        calls = receiver.calls_to("POST", "/hook")
        assert (delivery.attempts, delivery.response_status, len(calls)) == (3, 204, 3)
        assert list(delivery.attempt_set.order_by("number").values_list("status_code", flat=True)) == [503, 503, 204]
        assert {c.headers["X-I2V-Delivery"] for c in calls} == {str(delivery.pk)}
        assert all(Receiver.verify(endpoint.secret, c) for c in calls)
        assert json.loads(calls[-1].body)["data"]["pipeline_id"] == pipeline.pk
        times = list(delivery.attempt_set.order_by("number").values_list("at", flat=True))
        assert (times[1] - times[0]).total_seconds() >= 1 and (times[2] - times[1]).total_seconds() >= 4  # 1 s, then 4 s
