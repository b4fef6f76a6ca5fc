"""POST /library/upload: the Library's upload form where JavaScript is off. Files are ingested as the API
ingests them; all taken, the Library says so; any refused, a page says what came of each, with the worst
file's status, and a refused file leaves nothing behind."""

import pytest
from django.test import Client

from library.models import Asset
from library.tests import files
from library.tests.files import uploaded
from media_processing.models import ProcessingJob

URL = "/library/upload"


def post(client, *sent, **headers):
    return client.post(URL, {"files": list(sent)}, **headers)


def test_it_offers_the_form_to_a_page_without_javascript(owner_client):
    html = owner_client.get("/library/").content.decode()
    hidden_from_scripts = [part.split("</noscript>", 1)[0] for part in html.split("<noscript>")[1:]]
    form = next(part for part in hidden_from_scripts if "<form" in part)
    assert 'action="/library/upload"' in form and 'enctype="multipart/form-data"' in form
    assert 'name="files" multiple' in form and 'name="csrfmiddlewaretoken"' in form


def test_it_uploads_files_and_goes_back_to_the_library_saying_so(owner_client, owner, leftovers):
    response = post(owner_client, uploaded("a.jpg", files.jpeg()), uploaded("b.png", files.png()))
    assert response.status_code == 302 and response["Location"] == "/library/"
    assets = Asset.objects.filter(owner=owner, source="upload")
    assert sorted(assets.values_list("filename", "processing_status")) == [("a.jpg", "pending"), ("b.png", "pending")]
    assert ProcessingJob.objects.filter(asset__in=assets).exists()  # queued for the workers, as the API's are
    html = owner_client.get("/library/").content.decode()
    assert "Uploaded 2 files: each appears once it is processed." in html


def test_it_says_which_files_were_already_there(owner_client, owner):
    post(owner_client, uploaded("a.jpg", files.jpeg()))
    response = post(owner_client, uploaded("again.jpg", files.jpeg()), uploaded("b.png", files.png()), follow=True)
    assert "Uploaded 1 file: each appears once it is processed. 1 was already in your library." in response.content.decode()
    assert Asset.objects.filter(owner=owner).count() == 2
    response = post(owner_client, uploaded("a.jpg", files.jpeg()), follow=True)
    assert "1 was already in your library." in response.content.decode() and "Uploaded 0" not in response.content.decode()


def test_it_says_what_came_of_each_file_when_one_is_refused_and_keeps_nothing_of_it(owner_client, owner, leftovers):
    response = post(owner_client, uploaded("<i>x.svg", files.svg_with_script()), uploaded("ok.jpg", files.jpeg()))
    assert response.status_code == 415  # the worst file's status, as the API answers
    html = response.content.decode()
    assert "Some files were not uploaded" in html and "ok.jpg: uploaded" in html
    assert "<strong>&lt;i&gt;x.svg</strong>: " in html and "<i>x" not in html  # its name escaped
    assert list(Asset.objects.filter(owner=owner).values_list("filename", flat=True)) == ["ok.jpg"]
    assert leftovers()["assets"] == 1


@pytest.mark.parametrize(
    "sent, status, message",
    [
        ([], 400, "Choose one or more images or videos to upload."),
        ([uploaded("cut.jpg", files.jpeg_cut_and_closed()[:200])], 422, "cut.jpg"),
    ],
)
def test_it_refuses_nothing_or_a_broken_file_with_a_page_that_says_why(owner_client, owner, sent, status, message):
    response = post(owner_client, *sent)
    assert response.status_code == status and message in response.content.decode()
    assert not Asset.objects.filter(owner=owner).exists()


def test_it_refuses_a_body_that_is_not_multipart(owner_client, owner):
    response = owner_client.generic("POST", URL, b"--x\r\nnonsense", content_type="multipart/form-data; boundary=x")
    assert response.status_code == 400
    assert not Asset.objects.filter(owner=owner).exists()


def test_it_checks_the_csrf_token_once_the_files_are_read(owner, leftovers):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = post(client, uploaded("a.jpg", files.jpeg()))
    assert response.status_code == 403
    assert leftovers()["assets"] == 0 and leftovers()["temp"] == []


def test_it_sends_someone_logged_out_to_log_in(client, db):
    response = post(client, uploaded("a.jpg", files.jpeg()))
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not Asset.objects.exists()


def test_it_takes_no_get(owner_client):
    assert owner_client.get(URL).status_code == 405


def test_it_refuses_a_file_over_its_size_with_a_413_and_keeps_none_of_it(owner_client, owner, settings, leftovers):
    settings.UPLOAD_MAX_BYTES = {"image": 10_000, "video": 20_000}
    response = post(owner_client, uploaded("big.png", files.noisy_png((300, 300))))
    assert response.status_code == 413 and "big.png" in response.content.decode()
    assert leftovers()["assets"] == 0 and leftovers()["temp"] == []


def test_it_refuses_more_files_than_a_request_may_send(owner_client, owner, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = post(owner_client, *(uploaded(f"{n}.jpg", files.jpeg(colour=(n, 0, 0))) for n in range(3)))
    assert response.status_code == 400 and "Send at most 2 files at a time." in response.content.decode()
    assert not Asset.objects.filter(owner=owner).exists()


def test_it_is_rate_limited_with_a_page_that_says_when_to_try_again(owner_client, owner, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "uploads": "1/60"}
    assert post(owner_client, uploaded("a.jpg", files.jpeg())).status_code == 302
    response = post(owner_client, uploaded("b.jpg", files.jpeg(colour=(1, 2, 3))))
    assert response.status_code == 429 and response["Retry-After"]
    assert Asset.objects.filter(owner=owner).count() == 1
