"""Filters that the Jobs and Library lists share."""

import datetime

from django.utils import timezone


def _start_of(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def created_between(queryset, date_from=None, date_to=None):
    """Rows created on date_from .. date_to, both days included.

    Compares the column with instants, not DATE(created_at), so the
    (owner, created_at) indexes still serve the range.
    """
    if date_from:
        queryset = queryset.filter(created_at__gte=_start_of(date_from))
    if date_to:
        queryset = queryset.filter(created_at__lt=_start_of(date_to + datetime.timedelta(days=1)))
    return queryset


def text_search(queryset, q):
    """Rows whose lowercased search_text contains q.

    search_text is kept lowercased, so a plain LIKE matches whatever case was
    typed and can use the trigram index on PostgreSQL.
    """
    return queryset.filter(search_text__contains=q.lower()) if q else queryset
