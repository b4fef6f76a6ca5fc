import io
from datetime import UTC, datetime
from decimal import Decimal

import av
import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Sum
from PIL import Image

from i2v.lib.cache import owner_version
from i2v.lib.migrations import SEARCH_SIGNATURE
from jobs.catalog import bill
from jobs.models import Output, Pipeline, PipelineTag, Step
from library.models import Asset

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def seed(**options):
    # A small asset pool keeps the tests quick; outputs share its assets.
    options = {"pipelines": 20, "assets": 6, "verbosity": 0, **options}
    return call_command("seed_demo", stdout=io.StringIO(), **options)


def test_it_seeds_pipelines_with_steps_and_outputs():
    summary = seed()

    owner = get_user_model().objects.get(username="demo")
    assert summary.startswith("Seeded 20 pipelines, ")
    assert owner.pipelines.count() == 20
    assert not owner.has_usable_password(), "logins are made by ensure_login, not by seeding"
    assert Step.objects.filter(pipeline__owner=owner).count() >= 20
    assert Pipeline.objects.filter(owner=owner, steps__isnull=True).count() == 0
    assert Output.objects.filter(pipeline__owner=owner).exists()


def test_it_prices_what_steps_made_as_the_catalog_bills_it():
    """Each step costs its outputs at the catalog's price of one request with its own settings (an
    image, a 5 s clip at 720p), and a pipeline the sum of its steps: hosted models make most of the
    work, so most cost something. A video step's settings are a video's, as the form makes them."""
    seed(pipelines=40)
    made = Output.objects.values("step").annotate(n=Count("id"))
    outputs = {row["step"]: row["n"] for row in made}
    steps = list(Step.objects.filter(pipeline__owner__username="demo").exclude(kind="prompt_enhance"))
    for step in steps:
        price = bill(step.config["model"], step.config).total
        wanted = {"videos_per_image", "resolution", "duration"} if step.kind == "i2v" else {"images_per_prompt", "aspect_ratio", "quality"}
        assert wanted | {"model", "negative_prompt", "prompt", "seed"} == set(step.config), step.config
        assert step.cost_actual == (outputs.get(step.id, 0) * price).quantize(Decimal("0.0001")), step.config["model"]
    assert any(step.cost_actual > 0 for step in steps)
    for pipeline in Pipeline.objects.filter(owner__username="demo").annotate(steps_cost=Sum("steps__cost_actual")):
        assert abs(pipeline.total_cost - pipeline.steps_cost) <= Decimal("0.0001") * pipeline.steps.count()
    assert Pipeline.objects.filter(total_cost__gt=0).exists()


def test_it_numbers_outputs_from_zero_in_each_pipeline():
    seed()

    for pipeline in Pipeline.objects.all():
        positions = list(pipeline.outputs.order_by("position").values_list("position", flat=True))
        assert positions == list(range(len(positions)))


def test_it_stores_renditions_that_decode_at_the_right_size():
    seed()

    assets = Asset.objects.filter(outputs__isnull=False).distinct()
    assert assets.exists()
    for asset in assets:
        assert default_storage.exists(asset.original.name)
        assert set(asset.renditions) == {"150", "300", "600"}
        for key, entry in asset.renditions.items():
            with default_storage.open(entry["name"]) as f:
                data = f.read()
            image = Image.open(io.BytesIO(data))
            assert image.format == "JPEG"
            assert image.size == (entry["w"], entry["h"])
            assert max(image.size) <= int(key)
        assert default_storage.size(asset.renditions["150"]["name"]) <= 8 * 1024


def test_it_makes_real_videos_for_i2v_outputs():
    seed(assets=20)  # one pool asset in 20 is a video

    video = Asset.objects.get(kind="video")
    with default_storage.open(video.original.name) as f, av.open(f) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (video.width, video.height)
    assert video.mime == "video/mp4" and video.duration == 2.0
    assert video.renditions["300"]["w"] <= 300, "the poster frame has renditions like an image"


def test_it_gives_every_row_the_pipeline_owner():
    seed()
    seed(owner="someone-else", seed=2)

    assert Output.objects.exclude(owner=F("pipeline__owner")).count() == 0
    assert Output.objects.exclude(owner=F("asset__owner")).count() == 0
    assert Step.objects.exclude(owner=F("pipeline__owner")).count() == 0
    assert Output.objects.exclude(pipeline=F("step__pipeline")).count() == 0


def test_it_does_nothing_the_second_time_with_if_empty():
    seed(if_empty=True)

    summary = seed(if_empty=True)

    assert "nothing seeded" in summary
    assert Pipeline.objects.count() == 20


def test_it_reuses_the_assets_it_already_made():
    seed()
    assets = Asset.objects.count()

    summary = seed()

    assert Pipeline.objects.count() == 40
    assert Asset.objects.count() == assets, "the same bytes are stored once per owner"
    assert ", 0 assets for demo" in summary


def test_it_is_deterministic_for_a_seed(monkeypatch):
    # Dates count back from the current hour: hold it still in case it turns mid-test.
    hour = datetime(2025, 6, 1, 12, tzinfo=UTC)
    monkeypatch.setattr("jobs.management.commands.seed_demo.now_to_the_hour", lambda: hour)
    seed(owner="first", seed=5)
    seed(owner="second", seed=5)

    def history(username):
        rows = Pipeline.objects.filter(owner__username=username).order_by("id")
        return list(rows.values_list("name", "status", "model", "search_text", "total_cost", "created_at"))

    assert history("first") == history("second")


def test_it_invalidates_the_owners_cached_lists():
    owner = get_user_model().objects.create_user("demo")
    before = owner_version("jobs", owner.id)

    seed()

    assert owner_version("jobs", owner.id) != before


def test_it_leaves_foreign_key_checks_on_for_what_follows():
    # On PostgreSQL the bulk load may switch foreign-key triggers off for its own
    # transaction; a caller's transaction (here, the test's) must get them back.
    seed()
    step = Step.objects.select_related("pipeline").first()

    with pytest.raises(IntegrityError), transaction.atomic():
        Output.objects.create(owner_id=step.owner_id, pipeline=step.pipeline, step=step, asset_id=10**12, position=99)
        connection.check_constraints()


def test_it_seeds_tags_the_tag_filter_finds():
    # On PostgreSQL the COPYs run in replica mode (no foreign-key checks); the triggers
    # that keep each pipeline's tag names must fire all the same (jobs migration 0012).
    seed(pipelines=40)

    tagged = Pipeline.objects.filter(tags__isnull=False).distinct()
    assert tagged.exists()
    for name in tagged.values_list("tags__name", flat=True).distinct():
        expected = set(Pipeline.objects.filter(tags__name=name).values_list("pk", flat=True))
        assert set(Pipeline.objects.filtered(tag=name, hidden="include").values_list("pk", flat=True)) == expected
    # So must those that give each link its pipeline's created_at (jobs migration 0027).
    links = PipelineTag.objects.values_list("created_at", "pipeline__created_at")
    assert links and all(created_at == pipeline_created_at for created_at, pipeline_created_at in links)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the signature is PostgreSQL's")
def test_it_gives_each_pipeline_and_asset_the_signature_of_its_text():
    # The COPYs run in replica mode; the signature trigger must fire all the same (jobs migration 0029,
    # library 0024), or every search walks the seeded rows one by one.
    seed(pipelines=30)
    for table in ("jobs_pipeline", "library_asset"):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*), count(*) FILTER (WHERE ARRAY[{', '.join(SEARCH_SIGNATURE)}] = i2v_search_words(search_text))"
                f" FROM {table}"
            )
            rows, kept = cursor.fetchone()
        assert rows > 0 and kept == rows, table


def test_it_gives_each_pipeline_the_counts_of_its_steps_and_outputs():
    seed()
    counted = Pipeline.objects.annotate(n_steps=Count("steps", distinct=True), n_outputs=Count("outputs", distinct=True))
    rows = list(counted.values_list("step_count", "n_steps", "output_count", "n_outputs"))
    assert len(rows) == 20 and all(steps == n_steps > 0 and outputs == n_outputs for steps, n_steps, outputs, n_outputs in rows)
    assert sum(row[2] for row in rows) > 0


def test_it_seeds_pipelines_in_progress_that_finish_once_their_steps_run():
    # Nothing in the engine moves a "pending" step on: a demo pipeline in progress must be one `make run` finishes.
    from jobs.tests.conftest import run_queued

    seed(pipelines=60, seed=3)
    active = Pipeline.objects.filter(status__in=("pending", "running", "paused"))
    assert active.exists() and not Step.objects.filter(status="pending").exists()
    for pipeline in active:
        Step.objects.filter(pipeline=pipeline, status="running").update(status="queued")  # its worker is gone
        pipeline.approve()  # a paused one: a person approves its stage
        assert run_queued(pipeline).status == "completed", pipeline.steps.values_list("kind", "status", "error")
