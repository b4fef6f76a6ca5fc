import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def token_hash(raw):
    """What is stored of a raw token, and what it is looked up by."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def user_for(self, raw):
        """The active user a raw bearer token belongs to, or None: one query (requests take
        it from the cache first, i2v/lib/auth.py token_user())."""
        token = self.select_related("user").filter(key_hash=token_hash(raw), user__is_active=True).first()
        return None if token is None else token.user


class ApiToken(models.Model):
    """A per-user token for scripts. Only its hash is stored; the raw value is
    shown once, when it is made, like a password."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    key_hash = models.CharField(max_length=64, unique=True)  # token lookup on every API request
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApiTokenQuerySet.as_manager()

    @classmethod
    def issue(cls, user):
        """Replace the user's token with a new one; returns the raw value."""
        from i2v.lib.auth import forget_token

        raw = "i2v_" + secrets.token_urlsafe(32)
        old = cls.objects.filter(user=user).values_list("key_hash", flat=True).first()
        # The row is replaced in place: its date is set again (auto_now_add sets it on insert only).
        fields = {"key_hash": token_hash(raw), "prefix": raw[:10], "created_at": timezone.now()}
        cls.objects.update_or_create(user=user, defaults=fields)
        if old:
            forget_token(old)  # the replaced token stops working at once, cached or not
        return raw

    @classmethod
    def revoke(cls, user):
        """Delete the user's token, which the API refuses from now on (its cached entry goes with it:
        i2v/lib/auth.py forgets it on delete); whether there was one."""
        deleted, _ = cls.objects.filter(user=user).delete()
        return bool(deleted)


class IdempotencyKey(models.Model):
    """The answer to one API request made with an `Idempotency-Key` header, so a
    client that retries (a timeout, a crash) gets the first answer again instead
    of a second, paid, pipeline (i2v/lib/idempotency.py)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of the path and body it answered
    status = models.PositiveSmallIntegerField(default=0)
    body = models.BinaryField(default=b"")
    content_type = models.CharField(max_length=100, default="application/json")
    location = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The replay lookup: owner=? AND key=?
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key_uniq"),
        ]
