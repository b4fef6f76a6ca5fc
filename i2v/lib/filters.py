"""Filters that the Jobs and Library lists share."""

import datetime

from django.utils import timezone


def _start_of(day):
    """The first instant of `day`, or None when it lies past what a datetime holds.

    date.max + 1 day, or the first instant of 0001-01-01 in a zone east of UTC,
    overflows; such a bound excludes nothing that can be stored, so it is dropped.
    """
    try:
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    except OverflowError:
        return None


def _day_after(day):
    return day + datetime.timedelta(days=1) if day < datetime.date.max else None


def created_between(queryset, date_from=None, date_to=None):
    """Rows created on date_from .. date_to, both days included.

    Compares the column with instants, not DATE(created_at), so the
    (owner, created_at) indexes still serve the range.
    """
    start = _start_of(date_from) if date_from else None
    end = _start_of(_day_after(date_to)) if date_to and _day_after(date_to) else None
    if start:
        queryset = queryset.filter(created_at__gte=start)
    if end:
        queryset = queryset.filter(created_at__lt=end)
    return queryset


def text_search(queryset, q):
    """Rows whose lowercased search_text contains q.

    search_text is kept lowercased, so a plain LIKE matches whatever case was
    typed and can use the trigram index on PostgreSQL.
    """
    return queryset.filter(search_text__contains=q.lower()) if q else queryset
