"""id_url and url_of (i2v/lib/urls.py): reverse() once per URL name, the same URL for every id."""

import pytest
from django.urls import reverse

from i2v.lib.urls import id_url, url_of


@pytest.mark.parametrize("name", ["jobs:detail", "downloads:asset", "library:retry"])
@pytest.mark.parametrize("pk", [1, 42, 987654321, 10**12])
def test_it_gives_what_reverse_gives(name, pk):
    assert id_url(name, pk) == reverse(name, args=[pk])


def test_it_refuses_what_is_not_an_integer():
    with pytest.raises(ValueError):
        id_url("jobs:detail", "1/../../admin")


@pytest.mark.parametrize("name", ["jobs:page", "jobs:watch", "library:page", "library:watch"])
def test_it_gives_what_reverse_gives_without_arguments(name):
    assert url_of(name) == reverse(name)
