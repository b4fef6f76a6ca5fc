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
