"""PostgreSQL stops for a while under uploads, page views and a busy media worker.

Everything runs on a PostgreSQL cluster of the test's own (another port, made
with initdb as the postgres user), so the shared server is never touched:
granian, a media worker (Redis database 14 as the broker) and the test's own
requests. No sweeper runs: every upload accepted before the outage must be
processed from the messages alone, so a message the worker dropped during the
outage would show as a job that never completes.

During the outage the API answers 503 JSON with Retry-After and pages a 503
page, never a 500; afterwards everything answers 200 again by itself.
"""

import io
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
from django.conf import settings
from PIL import Image

from i2v.testing.workers import BROKER, Cluster, PrivatePostgres, broker_db, free_port  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
UPLOADS = 24
OUTAGE_SECONDS = 8


def jpeg(n):
    image = Image.new("RGB", (1600, 1200), ((n * 41) % 256, (n * 17) % 256, 120))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def manage(cluster, *args):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=cluster.env(REDIS_URL=""),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


@pytest.fixture
def private_pg():
    pg = PrivatePostgres(free_port())
    pg.init()
    yield pg
    pg.destroy()


def test_it_loses_nothing_and_answers_503_while_the_database_is_down(private_pg, broker_db, tmp_path):  # noqa: F811
    cluster = Cluster(tmp_path, database=private_pg.url)
    try:
        manage(cluster, "migrate", "--noinput", "-v0")
        manage(cluster, "collectstatic", "--noinput", "-v0")
        token = manage(
            cluster, "shell", "--no-imports", "-c",
            "from django.contrib.auth import get_user_model; from i2v.models import ApiToken; "
            "print(ApiToken.issue(get_user_model().objects.create_user('ops', password='ops-password-1')))",
        )  # fmt: skip
        base = cluster.web(REDIS_URL="")
        cluster.worker("media", I2V_TEST_TASK_DELAY="0.3", REDIS_URL="")
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

        accepted = [api.post("/api/library/images", files={"files": (f"p{n}.jpg", jpeg(n))}) for n in range(UPLOADS)]
        assert [r.status_code for r in accepted] == [201] * UPLOADS

        private_pg.stop()
        statuses, pages = [], []
        outage_end = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < outage_end:
            statuses.append(api.get("/api/pipelines").status_code)
            during = api.get("/api/library/images")
            statuses.append(during.status_code)
            statuses.append(api.post("/api/library/images", files={"files": ("late.jpg", jpeg(99))}).status_code)
            # The login page needs no database; the Jobs page sends its visitor to it.
            pages.append(httpx.get(f"{base}/login/", timeout=30).status_code)
            pages.append(httpx.get(f"{base}/jobs/", timeout=30).status_code)
            time.sleep(0.3)
        assert during.status_code == 503 and during.headers["Retry-After"] == "5"
        assert during.json()["error"]["code"] == "unavailable"
        left_in_broker = broker_db.llen("thumbnails") + broker_db.llen("variants") + broker_db.hlen("unacked")
        private_pg.start()

        cluster.wait(lambda: api.get("/api/library/images").status_code == 200, 30, "the API to answer again")
        assert set(statuses) == {503}, f"the API answered only 503 during the outage: {sorted(set(statuses))}"
        assert set(pages) <= {200, 302, 503}, f"no page answered 500: {sorted(set(pages))}"
        assert left_in_broker > 0, "the worker kept its messages instead of acknowledging them"

        with psycopg.connect(private_pg.url + "?connect_timeout=5") as db:

            def processed():
                return db.execute(
                    "SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FROM media_processing_processingjob"
                ).fetchone()

            cluster.wait(lambda: processed()[0] == processed()[1], 120, "every job to complete")
            done, total = processed()
            assert total == 2 * UPLOADS, "a thumbnails and a variants job per accepted upload, none for refused ones"
            assert done == total, "nothing lost, with no sweeper to resend it"
            attempts = db.execute("SELECT max(attempts) FROM media_processing_processingjob").fetchone()[0]
            # A run cut off mid-way, whose worker could not even record that before
            # giving its message back, runs once more from its lease: never a third time.
            assert attempts <= 2
            statuses = db.execute("SELECT DISTINCT processing_status FROM library_asset").fetchall()
            assert statuses == [("complete",)]
        after = [api.get("/api/pipelines").status_code, httpx.get(f"{base}/login/", timeout=30).status_code]
        assert after == [200, 200]
    finally:
        cluster.stop_all()
