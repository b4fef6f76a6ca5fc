"""Fixtures for the pipeline tests: real source images in storage, and a record of
the step messages that would have been sent (no broker needed)."""

import hashlib
import io
import itertools

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from PIL import Image

from jobs.models import Step, StepQuerySet
from jobs.remote import check_due
from jobs.tasks import run_step
from library.models import Asset, original_path
from library.parameters import embed

_shade = itertools.count(1)


def make_source(user, parameters=None):
    """An image asset whose original really is in storage, as generation needs; `parameters`, the A1111 text
    its PNG carries (as an upload made elsewhere does), for the viewer and "Recall settings" to read."""
    image = Image.new("RGB", (64, 48), ((next(_shade) * 37) % 256, 90, 160))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    data = buffer.getvalue()
    if parameters is not None:
        data = embed(data, "image/png", parameters)
    sha = hashlib.sha256(data).hexdigest()
    name = default_storage.save(original_path(Asset(owner=user, sha256=sha), "s.png"), ContentFile(data))
    return Asset.objects.create(
        owner=user, kind="image", source="upload", sha256=sha, original=name, mime="image/png",
        width=64, height=48, bytes=len(data), processing_status="complete",
    )  # fmt: skip


def run_queued(pipeline, limit=200):
    """Run every queued step of `pipeline` in this process, as workers and the
    poller would, until none is left (later stages are queued as earlier ones
    finish, results are fetched as providers finish them)."""
    for _ in range(limit):
        step = pipeline.steps.filter(status=Step.Status.QUEUED, available_at__lte=timezone.now()).order_by("order").first()
        if step is None:
            if not pipeline.steps.filter(status=Step.Status.WAITING).exists():
                break
            check_due()
            continue
        run_step.run(step.pk)
    pipeline.refresh_from_db()
    return pipeline


@pytest.fixture(autouse=True)
def sent(monkeypatch):
    """Step ids whose run_step message was sent, with their countdowns."""
    messages = []

    def record(queryset, items, countdown=None):
        messages.extend((item.pk, countdown) for item in items)
        return len(items)

    monkeypatch.setattr(StepQuerySet, "send_many", record)
    monkeypatch.setattr(
        StepQuerySet, "wake_dispatcher", lambda queryset: transaction.on_commit(lambda: messages.append(("dispatch", None)))
    )
    return messages


@pytest.fixture
def source(owner):
    return make_source(owner)


FAL_IMAGE = {"model": "flux-kontext", "images_per_prompt": 1, "aspect_ratio": "auto", "quality": "standard", "negative_prompt": ""}
FAL_VIDEO = {"model": "kling-2.1", "videos_per_image": 1, "resolution": "720p", "duration": 5, "negative_prompt": ""}


@pytest.fixture
def fal(settings):
    """fal's fake on loopback (jobs/tests/fakes/fal.py), as the contract suite drives it."""
    from jobs.tests.fakes.fal import Harness

    settings.GENERATION_HTTP_TIMEOUT_SECONDS = 1
    with Harness.started(settings) as harness:
        yield harness


def failed_before_its_videos(owner, fal):
    """An image-then-video pipeline at fal's fake (two prompts) whose second image fal refused (a 422), run to
    its end: one image made, the other failed, so its video stage was never made. A retry's estimate includes it."""
    from jobs.models import Pipeline
    from jobs.tests.contract import drive
    from jobs.tests.test_tasks import request

    pipeline = Pipeline.objects.create_from_request(
        owner, request([make_source(owner)], prompts=["a", "b"], i2i=FAL_IMAGE, i2v=FAL_VIDEO)
    )
    first, second = pipeline.steps.order_by("order")
    fal.succeed(queue=0, progress=())
    run_step.run(first.pk)
    fal.refuse(422, message="image_url: unsupported image format")
    run_step.run(second.pk)
    pipeline = drive(pipeline)
    assert pipeline.status == "failed" and not pipeline.steps.filter(kind="i2v").exists()
    return pipeline


def billed_by_a_retry(pipeline, fal):
    """Run what a retry queued against fal's fake to the end; what the provider billed for it (its requests'
    recorded costs, from the catalog's bill() of what each was sent with)."""
    from django.db.models import Sum

    from jobs.tests.contract import drive

    before = list(pipeline.requests.values_list("pk", flat=True))
    fal.succeed(queue=0, progress=())
    for _ in range(pipeline.config["i2v"]["videos_per_image"] * pipeline.steps.filter(kind="i2i").count()):
        fal.succeed(queue=0, progress=(), video=True)
    pipeline = drive(pipeline)
    assert pipeline.status == "completed", [s.error for s in pipeline.steps.all()]
    return pipeline.requests.exclude(pk__in=before).aggregate(c=Sum("cost"))["c"]
