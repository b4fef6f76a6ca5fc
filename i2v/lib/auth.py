"""Who is asking, without a query: the request's user from the cache.

Every request needs its user (login_required, the list cache's key, the API's
token), and Django loads it from the database each time. A cached list hit has
nothing else to ask the database, so that one query was most of its cost. Here
the user is kept in the cache under its id (and an API token's user under the token's hash):

- a session request takes the cached user only when Django itself would accept
  it: the session names a configured backend and its auth hash matches the
  user's (a changed password still logs other sessions out); anything else goes
  through django.contrib.auth.get_user, unchanged;
- a save or delete of the user forgets it (now and again after commit, so a
  reader between the two can't keep the old one), and entries expire after
  CACHE_TIMEOUT_SECONDS, which bounds what a queryset update() could leave stale;
- with Redis down every lookup misses and the database answers, as before.

A view that reads a list entry first (i2v/lib/cache.py reads_ahead()) has it read in the
user's round trip (read_user()), and a session's own data is read in it too (i2v/lib/sessions.py):
a cached list hit then costs one round trip, with a token or a session, where each cost 0.08-0.2
ms of CPU, most of what such a hit costs past the server's own.
The owner the list is read for is known before the user is: a token's or a session's is
remembered in this process once found (a token's user never changes: issue() makes a new token;
a session's changes only by a login, which gives it a new key). The entry read is made for that
owner, and a view is handed it (ListEntry.for_request()) only for its verified user: a guess
that proves wrong is a miss, never another's list. A session whose owner this process hasn't
seen yet reads its data first, then its user with the list: two round trips.

The cached user carries its password hash (the session check needs it): the
cache Redis is as private as the session store, which already holds live sessions.
"""

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject


def _user_key(user_id):
    return f"auth:user:{user_id}"


def _token_key(key_hash):
    return f"auth:token:{key_hash}"


# Whose a credential is, as this process found it: ("token", its hash) or ("session", Python's hash
# of its key, so that no key is kept) -> the user's id. Which list entry a request reads ahead:
# a guess, checked by what is read with it (see the module docstring).
_owners = {}
OWNERS_HELD = 10_000  # at most, then forgotten at once


def _note_owner(credential, user_id):
    if len(_owners) >= OWNERS_HELD:
        _owners.clear()
    _owners[credential] = user_id


def read_ahead(request, keys, owner_id):
    """{key: value} of the cache's values under `keys` that it holds, read in one round trip with
    the list entry the request's view reads first for `owner_id` (if any; see the module
    docstring), which the view is then handed (ListEntry.for_request(), made once per request
    and owner)."""
    entry_for = request.__dict__.get("_reads_ahead")
    entry = entry_for(request, owner_id) if entry_for is not None and owner_id is not None and request.method == "GET" else None
    listed = entry.keys() if entry is not None else []
    found = cache.get_many([*keys, *listed])
    if listed:
        entry.take(found)
    return found


def read_user(request, key, owner_id):
    """The cached value under `key` (a user's entry, or a token's), read as read_ahead() reads."""
    return read_ahead(request, [key], owner_id).get(key)


def remember(user):
    cache.set(_user_key(user.pk), user, timeout=settings.CACHE_TIMEOUT_SECONDS)


def forget(*keys):
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def session_user(request):
    """The session's user, as django.contrib.auth.get_user would return it."""
    session = request.session
    credential = ("session", hash(session.session_key))
    user = read_for = None
    guess = _owners.get(credential)
    ahead = getattr(session, "key_ahead", None)  # i2v/lib/sessions.py's store; Django's others can't
    if guess is not None and ahead is not None and (key := ahead()) is not None:
        # The session's data, the user it named here before and that user's list, in one read.
        found = read_ahead(request, [key, _user_key(guess)], guess)
        session.take(found.get(key))
        user, read_for = found.get(_user_key(guess)), guess
    try:
        user_id = auth.get_user_model()._meta.pk.to_python(session[auth.SESSION_KEY])
        backend, session_hash = session[auth.BACKEND_SESSION_KEY], session[auth.HASH_SESSION_KEY]
    except (KeyError, ValueError):
        return auth.get_user(request)
    if user_id != read_for:
        user = read_user(request, _user_key(user_id), user_id)
    if user is not None and backend in settings.AUTHENTICATION_BACKENDS:
        if constant_time_compare(session_hash, user.get_session_auth_hash()):
            _note_owner(credential, user.pk)
            return user
    # Not cached, or not verified by the current key: Django decides (fallback keys, flushing).
    user = auth.get_user(request)
    if user.is_authenticated:
        remember(user)
    return user


class CachedAuthenticationMiddleware(AuthenticationMiddleware):
    """django.contrib.auth's AuthenticationMiddleware (a subclass, as the admin's checks ask), with the user from the cache."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: session_user(request))

    def process_view(self, request, view, args, kwargs):
        # The user is still unread (lazy): what the view reads first is read with it.
        request._reads_ahead = getattr(view, "reads_ahead", None)


def bearer(request):
    """The token a request carries as `Authorization: Bearer <token>` (a script's, never a browser's), or None.
    The scheme is matched in any case, as RFC 7235 says schemes are ("bearer", "BEARER" too)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def token_user(request, raw):
    """The active user of a raw bearer token, or None: from the cache (one read, with what the
    request's view reads first), else one query, whose user is then cached."""
    from i2v.models import ApiToken, token_hash

    key_hash = token_hash(raw)
    credential = ("token", key_hash)
    user = read_user(request, _token_key(key_hash), _owners.get(credential))
    if user is None:
        user = ApiToken.objects.user_for(raw)
        if user is None:
            return None
        # After commit only: a token whose insert rolled back must never authenticate.
        transaction.on_commit(lambda: cache.set(_token_key(key_hash), user, timeout=settings.CACHE_TIMEOUT_SECONDS))
    _note_owner(credential, user.pk)
    return user


def forget_token(key_hash):
    forget(_token_key(key_hash))


def _user_changed(sender, instance, **kwargs):
    # A token's entry holds its user too (one read per API request instead of two).
    from i2v.models import ApiToken

    tokens = ApiToken.objects.filter(user_id=instance.pk).values_list("key_hash", flat=True)
    forget(_user_key(instance.pk), *(_token_key(h) for h in tokens))


def _logged_in(sender, user, **kwargs):
    # Warm: the first page after a login needs no query for its user either.
    remember(user)


def _token_deleted(sender, instance, **kwargs):
    forget_token(instance.key_hash)


def connect_signals():
    from i2v.models import ApiToken

    user_model = auth.get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="auth_cache_user_saved")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="auth_cache_user_deleted")
    # After update_last_login (connected by django.contrib.auth, earlier), whose save forgets the user.
    user_logged_in.connect(_logged_in, dispatch_uid="auth_cache_logged_in")
    post_delete.connect(_token_deleted, sender=ApiToken, dispatch_uid="auth_cache_token_deleted")
