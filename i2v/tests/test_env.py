import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ImproperlyConfigured

from i2v.lib.env import database_from_url, env_bool, env_int, env_list, installation_secret


def test_it_reads_booleans_and_refuses_typos(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="FLAG='ture' is not a boolean"):
        env_bool("FLAG")


def test_it_reads_integers_with_a_floor(monkeypatch):
    monkeypatch.setenv("N", "12")
    assert env_int("N", 1) == 12
    monkeypatch.setenv("N", "twelve")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("N", 1)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("N", 1, minimum=1)


def test_it_reads_lists(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS") == ["a.example", "b.example"]


def test_it_parses_database_urls():
    db = database_from_url("postgres://u%40x:p%3Ass@db.internal:6543/i2v?sslmode=require")
    assert db["ENGINE"] == "i2v.db.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == ("u@x", "p:ss", "db.internal", "6543", "i2v")
    assert db["OPTIONS"] == {"sslmode": "require"}
    assert database_from_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host/", "sqlite://"])
def test_it_refuses_unusable_database_urls(url):
    with pytest.raises(ImproperlyConfigured):
        database_from_url(url)


def test_it_gives_processes_starting_together_one_whole_secret(tmp_path):
    # Web, workers and beat start at once on a fresh var/: each must read the same,
    # complete key (a half-written file once gave a worker an empty SECRET_KEY).
    path = tmp_path / "secret_key"
    start = threading.Barrier(16)

    def make():
        start.wait()
        return installation_secret(path)

    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(lambda _: make(), range(16)))
    assert len(keys) == 1 and len(keys.pop()) >= 50
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"], "no private copies left behind"
    assert path.stat().st_mode & 0o777 == 0o600


def test_it_keeps_the_secret_across_restarts_and_refuses_an_empty_one(tmp_path):
    path = tmp_path / "secret_key"
    assert installation_secret(path) == installation_secret(path)
    path.write_text("\n")
    with pytest.raises(ImproperlyConfigured, match="secret_key is empty: set SECRET_KEY, or delete the file"):
        installation_secret(path)
