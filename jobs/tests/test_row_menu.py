import re

from conftest import make_pipeline
from jobs.tests.conftest import make_source
from jobs.models import Step
from jobs.tests.test_pipeline_actions import create
from jobs.tests.test_tasks import I2V


def test_it_offers_the_row_actions(owner_client, owner):
    p = make_pipeline(owner, name="A <b>name</b>", is_hidden=True)
    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    for action in ("rename", "tags", "hide", "delete"):
        assert f"/jobs/{p.id}/{action}" in html
    assert "Unhide" in html
    assert "A &lt;b&gt;name&lt;/b&gt;" in html


def test_it_is_a_404_for_someone_elses_pipeline(client, other, owner):
    p = make_pipeline(owner)
    client.force_login(other)
    assert client.get(f"/jobs/{p.id}/menu").status_code == 404


def test_it_offers_retry_and_rerun_disabled_with_the_reason_where_the_provider_has_no_key(owner_client, owner, settings):
    p = create(owner, prompts=["a"], i2v={**I2V, "model": "kling-2.1"})
    Step.objects.filter(pipeline=p).update(status="failed", error="fal.ai is not configured")
    p.refresh_progress()
    settings.FAL_KEY = ""
    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    reason = f'<small class="blocked" id="blocked-{p.id}">fal.ai is not configured: set the FAL_KEY environment variable'
    assert reason in html
    for action in ("retry", "rerun"):
        form = re.search(rf'<form[^>]* hx-post="/jobs/{p.id}/{action}".*?</form>', html, re.S).group()
        assert f'<button disabled aria-describedby="blocked-{p.id}">' in form, action
    settings.FAL_KEY = "a-key"
    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    assert "disabled" not in html and "blocked" not in html and f"/jobs/{p.id}/retry" in html


def test_it_offers_rerun_disabled_with_the_reason_once_its_sources_were_deleted(owner_client, owner):
    p = create(owner, prompts=["a"])
    Step.objects.filter(pipeline=p).update(status="failed", error="timed out")
    p.refresh_progress()
    owner.assets.filter(pk=p.config["sources"][0]).delete()
    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    assert f'<small class="blocked" id="blocked-{p.id}">1 of its 1 sources was deleted from your library' in html
    rerun = re.search(rf'<form[^>]* hx-post="/jobs/{p.id}/rerun".*?</form>', html, re.S).group()
    assert f'<button disabled aria-describedby="blocked-{p.id}">' in rerun
    # Its failed step starts from the deleted image: a retry would fail again, and says why in its own words.
    retry = re.search(rf'<form[^>]* hx-post="/jobs/{p.id}/retry".*?</form>', html, re.S).group()
    assert f'<button disabled aria-describedby="retry-blocked-{p.id}">' in retry
    assert f'<small class="blocked" id="retry-blocked-{p.id}">The images its failed steps start from were deleted' in html


def test_it_offers_retry_while_a_failed_step_still_has_its_source(owner_client, owner):
    p = create(owner, prompts=["a", "b"])
    Step.objects.filter(pipeline=p).update(status="failed", error="timed out")
    p.refresh_progress()
    kept = make_source(owner)
    Step.objects.filter(pk=p.steps.order_by("id").last().pk).update(inputs={"asset_id": kept.pk})
    owner.assets.filter(pk=p.config["sources"][0]).delete()
    html = owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()
    retry = re.search(rf'<form[^>]* hx-post="/jobs/{p.id}/retry".*?</form>', html, re.S).group()
    assert "disabled" not in retry and "retry-blocked" not in html
