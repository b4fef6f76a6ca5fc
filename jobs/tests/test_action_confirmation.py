"""Cancel, Approve, Retry failed steps and Rerun as new without JavaScript (views.cancel, approve, retry, rerun
as plain forms): an action htmx asks about (hx-confirm) goes first to its confirmation page (its URL by GET,
which does nothing), whose form posts confirm=1 and a key of its own; the answer is the pipeline's page (the
Jobs page after a rerun) saying what was done or refused. A form sent twice spends once."""

import re
import threading
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from conftest import wait_for_a_lock_wait
from i2v.lib.idempotency import form_key
from jobs.catalog import bill
from jobs.models import Pipeline, Step
from jobs.tests.conftest import FAL_IMAGE, FAL_VIDEO, billed_by_a_retry, failed_before_its_videos, run_queued
from jobs.tests.test_pipeline_actions import create
from jobs.tests.test_tasks import I2V

# session, user, the pipeline, and what the page says: the sources a rerun needs still there / the retry's cost,
# and the images its steps start from (their ids, then whether one is still there)
CONFIRM_QUERIES = 6


def said(response):
    """The messages of the page a plain form's answer led to."""
    found = re.search(r'<ul class="messages" role="status">(.*?)</ul>', response.content.decode())
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


def failed_paid(owner, settings):
    """A failed pipeline whose retry costs $0.04 a step and whose rerun is paid (fal's video stage)."""
    settings.FAL_KEY = "a-key"
    p = create(owner, prompts=["a"], i2v={**I2V, "model": "kling-2.1"})
    Step.objects.filter(pipeline=p).update(status="failed", cost_estimate="0.04")
    p.refresh_progress()
    return p


def test_it_asks_for_a_free_rerun_naming_the_generations_planned(owner_client, owner, django_assert_max_num_queries):
    p = run_queued(create(owner))
    Pipeline.objects.filter(pk=p.pk).update(name="A <b>run</b>")
    with django_assert_max_num_queries(CONFIRM_QUERIES):
        response = owner_client.get(f"/jobs/{p.id}/rerun")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Run “A &lt;b&gt;run&lt;/b&gt;” again as a new pipeline, with the same settings and seed? It plans 2 generations: Free." in html
    assert f'action="/jobs/{p.id}/rerun"' in html and '<input type="hidden" name="confirm" value="1">' in html
    assert re.search(r'<input type="hidden" name="once" value="[A-Za-z0-9_-]{22}">', html)
    assert owner_client.head(f"/jobs/{p.id}/rerun").status_code == 200
    assert owner.pipelines.count() == 1  # GET and HEAD run nothing


def test_it_asks_with_the_cost_of_a_paid_retry_and_rerun(owner_client, owner, settings, django_assert_max_num_queries):
    p = failed_paid(owner, settings)
    retry = Decimal("0.04") + bill("kling-2.1", p.config["i2v"]).total  # the image, and the video made from it unasked
    for action, question in (
        ("retry", f"Retry the failed and unknown steps of “Run”? Each may be billed again, with the stages it leads to: up to ${retry:.2f}."),
        ("rerun", "Run “Run” again as a new pipeline, with the same settings and seed? It plans 2 generations: estimated at $"),
    ):  # fmt: skip
        with django_assert_max_num_queries(CONFIRM_QUERIES):
            html = owner_client.get(f"/jobs/{p.id}/{action}").content.decode()
        assert question in html, action
    assert owner.pipelines.count() == 1 and set(p.steps.values_list("status", flat=True)) == {"failed"}


def test_it_asks_for_what_the_retried_steps_and_the_videos_they_lead_to_will_be_billed(owner_client, owner, settings, fal):
    settings.PIPELINE_CONFIRM_ABOVE_USD = "0"
    p = failed_before_its_videos(owner, fal)
    estimate = bill("flux-kontext", FAL_IMAGE).total + 2 * bill("kling-2.1", FAL_VIDEO).total  # the image, then 2 videos

    html = owner_client.get(f"/jobs/{p.id}/retry").content.decode()
    assert f"Retry the failed and unknown steps of “Run”? Each may be billed again, with the stages it leads to: up to ${estimate:.2f}." in html
    answer = owner_client.post(f"/jobs/{p.id}/retry", {"confirm": "1", "once": form_key()}, follow=True)
    assert said(answer) == ["Retrying 1 step of “Run”."]
    assert billed_by_a_retry(p, fal) == estimate, "what was asked is what fal billed"


def test_it_asks_before_cancelling(owner_client, owner):
    p = create(owner)
    html = owner_client.get(f"/jobs/{p.id}/cancel").content.decode()
    assert "Cancel “Run”? Running steps stop; nothing more is charged." in html
    assert set(p.steps.values_list("status", flat=True)) == {"queued"}


def test_it_says_on_the_confirmation_page_why_an_action_cant_be_taken(owner_client, owner, settings):
    p = run_queued(create(owner))
    response = owner_client.get(f"/jobs/{p.id}/cancel")
    assert response.status_code == 409 and "“Run” is completed: there is nothing to cancel." in response.content.decode()
    response = owner_client.get(f"/jobs/{p.id}/retry")
    assert response.status_code == 409 and "Nothing to retry" in response.content.decode()
    owner.assets.filter(pk__in=p.config["sources"]).delete()
    response = owner_client.get(f"/jobs/{p.id}/rerun")
    assert response.status_code == 409 and "1 of its 1 sources was deleted from your library" in response.content.decode()
    assert 'name="confirm"' not in response.content.decode()  # no form to send


def test_it_sends_an_unconfirmed_plain_form_to_its_confirmation_page(owner_client, owner, settings):
    p = failed_paid(owner, settings)
    running = create(owner)
    for pipeline, action in ((p, "retry"), (p, "rerun"), (running, "cancel")):
        response = owner_client.post(f"/jobs/{pipeline.id}/{action}", {"once": form_key()})
        assert (response.status_code, response["Location"]) == (302, f"/jobs/{pipeline.id}/{action}"), action
    assert owner.pipelines.count() == 2 and set(p.steps.values_list("status", flat=True)) == {"failed"}
    assert set(running.steps.values_list("status", flat=True)) == {"queued"}


def test_it_does_each_once_confirmed_and_says_so_on_the_page(owner_client, owner, settings):
    p = failed_paid(owner, settings)
    response = owner_client.post(f"/jobs/{p.id}/retry", {"confirm": "1", "once": form_key()}, follow=True)
    assert response.redirect_chain == [(f"/jobs/{p.id}/", 302)]
    assert said(response) == ["Retrying 1 step of “Run”."]
    assert set(p.steps.values_list("status", flat=True)) == {"queued"}

    response = owner_client.post(f"/jobs/{p.id}/cancel", {"confirm": "1"}, follow=True)
    assert said(response) == ["Cancelled “Run”: running steps stop, nothing more is charged."]
    response = owner_client.post(f"/jobs/{p.id}/rerun", {"confirm": "1", "once": form_key()}, follow=True)
    assert response.redirect_chain == [("/jobs/", 302)]
    assert said(response) == ["“Run” runs again as a new pipeline: 2 generations."]
    assert owner.pipelines.count() == 2

    paused = run_queued(create(owner, prompts=["a"], i2v=I2V, mode="checkpoint"))
    response = owner_client.post(f"/jobs/{paused.id}/approve", follow=True)
    assert said(response) == ["Approved: the next stage of “Run” runs."]
    response = owner_client.post(f"/jobs/{paused.id}/approve", follow=True)  # a double click: nothing left to approve
    assert said(response) == ["Nothing is waiting for approval: the stage was approved or cancelled already."]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_it_spends_once_for_a_form_sent_twice(owner_client, owner, settings, htmx):
    # A double click, a reload of the POST, Back and resend: the same form, the same key.
    p = failed_paid(owner, settings)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    rerun, retry = {"confirm": "1", "once": form_key()}, {"confirm": "1", "once": form_key()}
    assert owner_client.post(f"/jobs/{p.id}/rerun", rerun, **headers).status_code in (200, 302)
    again = owner_client.post(f"/jobs/{p.id}/rerun", rerun, **headers)
    assert owner.pipelines.count() == 2
    assert owner_client.post(f"/jobs/{p.id}/retry", retry, **headers).status_code in (200, 302)
    Step.objects.filter(pipeline=p).update(status="failed")  # failed again since: a resend would pay again
    p.refresh_progress()
    twice = owner_client.post(f"/jobs/{p.id}/retry", retry, **headers)
    assert set(p.steps.values_list("status", flat=True)) == {"failed"}
    messages = [f"“Run” was already {what} from this form: it was not sent again." for what in ("rerun", "retried")]
    if htmx:
        for response, message in zip((again, twice), messages):
            assert response.status_code == 409 and response["HX-Reswap"] == "none" and message in response.content.decode()
    else:
        assert again["Location"] == twice["Location"] == f"/jobs/{p.id}/"
        assert said(owner_client.get(twice["Location"]))[-3:] == [messages[0], "Retrying 1 step of “Run”.", messages[1]]
    # A fresh form (the page drawn again) is a new request.
    assert owner_client.post(f"/jobs/{p.id}/retry", {"confirm": "1", "once": form_key()}, **headers).status_code in (200, 302)
    assert set(p.steps.values_list("status", flat=True)) == {"queued"}


def test_it_refuses_a_spending_form_without_a_key_of_ours(owner_client, owner, settings):
    # No key (a page from before keys), or one no page draws: a NUL byte (PostgreSQL can't store one), 1 MB.
    p = failed_paid(owner, settings)
    for once in (None, "", "short", "a" * 15 + "\x00", "x" * 1_000_000, "<script>" * 4):
        data = {"confirm": "1"} if once is None else {"confirm": "1", "once": once}
        for action in ("retry", "rerun"):
            response = owner_client.post(f"/jobs/{p.id}/{action}", data)
            assert response["Location"] == f"/jobs/{p.id}/", (action, str(once)[:20])
            response = owner_client.post(f"/jobs/{p.id}/{action}", data, HTTP_HX_REQUEST="true")
            assert response.status_code == 400 and "This page is out of date: reload it and try again." in response.content.decode()
    assert said(owner_client.get(f"/jobs/{p.id}/"))[-1] == "This page is out of date: reload it and try again."
    assert owner.pipelines.count() == 1 and set(p.steps.values_list("status", flat=True)) == {"failed"}


def test_it_says_a_refusal_on_the_page_without_javascript(owner_client, owner, settings):
    p = failed_paid(owner, settings)
    settings.FAL_KEY = ""
    for action in ("retry", "rerun"):
        response = owner_client.post(f"/jobs/{p.id}/{action}", {"confirm": "1", "once": form_key()}, follow=True)
        assert response.status_code == 200 and said(response)[0].startswith("fal.ai is not configured: set the FAL_KEY"), action
    settings.FAL_KEY = "a-key"

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pipelines": "1/86400"}
    settings.GENERATION_MAX_STEPS_IN_FLIGHT = 1  # the rerun's 2 would be too many
    response = owner_client.post(f"/jobs/{p.id}/rerun", {"confirm": "1", "once": form_key()}, follow=True)
    assert said(response)[0].startswith("You have 0 steps queued or running, and this would add 2")
    settings.GENERATION_MAX_STEPS_IN_FLIGHT = 10_000

    # The quota's refusal counted one against the rate: a refused request may have been a paid one.
    response = owner_client.post(f"/jobs/{p.id}/rerun", {"confirm": "1", "once": form_key()}, follow=True)
    assert response.redirect_chain == [(f"/jobs/{p.id}/", 302)] and "please wait" in said(response)[0]
    refused = owner_client.post(f"/jobs/{p.id}/rerun", {"confirm": "1", "once": form_key()}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 429 and refused["Retry-After"]  # htmx: the toast, as before

    owner.assets.filter(pk__in=p.config["sources"]).delete()
    response = owner_client.post(f"/jobs/{p.id}/rerun", {"confirm": "1", "once": form_key()}, follow=True)
    assert "1 of its 1 sources was deleted from your library" in said(response)[0]
    assert owner.pipelines.count() == 1 and set(p.steps.values_list("status", flat=True)) == {"failed"}


def test_it_is_a_404_for_someone_elses_pipeline(client, owner, other, settings):
    p = failed_paid(owner, settings)
    client.force_login(other)
    for action in ("cancel", "retry", "rerun"):
        assert client.get(f"/jobs/{p.id}/{action}").status_code == 404, action
        assert client.post(f"/jobs/{p.id}/{action}", {"confirm": "1", "once": form_key()}).status_code == 404, action
    assert client.get(f"/jobs/{2**63}/rerun").status_code == 404
    assert owner.pipelines.count() == 1 and set(p.steps.values_list("status", flat=True)) == {"failed"}


def test_it_offers_plain_forms_that_htmx_sends_asking_first(owner_client, owner):
    p = run_queued(create(owner))
    Pipeline.objects.filter(pk=p.pk).update(status="failed")
    for html in (owner_client.get(f"/jobs/{p.id}/").content.decode(), owner_client.get(f"/jobs/{p.id}/menu", HTTP_HX_REQUEST="true").content.decode()):
        rerun = re.search(rf'<form action="/jobs/{p.id}/rerun"[^>]*>', html).group()
        assert 'method="post"' in rerun and f'hx-post="/jobs/{p.id}/rerun"' in rerun
        # A free rerun asks too: it may be hundreds of generations on the person's own GPU.
        assert 'hx-confirm="Run “Run” again as a new pipeline, with the same settings and seed? It plans 2 generations: Free."' in rerun
        retry = re.search(rf'<form action="/jobs/{p.id}/retry".*?</form>', html, re.S).group()
        # A free retry doesn't ask: its plain form is confirmed already.
        assert "hx-confirm" not in retry and '<input type="hidden" name="confirm" value="1">' in retry


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a unique index's wait between two connections: PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_it_reruns_once_for_two_sends_at_the_same_moment(client, owner):
    """The first send holds the form's key (another connection here, its transaction still open); the second
    waits on the key's unique index, then finds it taken and reruns nothing."""
    p = run_queued(create(owner))
    key, params, answers = form_key(), connection.get_connection_params(), []
    client.force_login(owner)

    def send():
        try:
            answers.append(client.post(f"/jobs/{p.id}/rerun", {"confirm": "1", "once": key}))
        finally:
            connection.close()  # this thread's own

    with psycopg.connect(**params) as first:
        first.execute(
            "INSERT INTO i2v_idempotencykey (owner_id, key, fingerprint, status, body, content_type, location, created_at)"
            " VALUES (%s, %s, '', 0, '', '', '', now())",
            [owner.pk, f"form /jobs/{p.id}/rerun {key}"],
        )
        second = threading.Thread(target=send)
        second.start()
        wait_for_a_lock_wait(params)
        first.commit()
        second.join(30)
    assert answers[0]["Location"] == f"/jobs/{p.id}/"
    assert owner.pipelines.count() == 1
