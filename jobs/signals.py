"""Any write to a user's pipelines, steps, outputs or tags invalidates their cached lists.

Signals rather than calls sprinkled through views: Celery workers update steps
too, and they must invalidate exactly like a click does. Bulk QuerySet.update()
sends no signal, so the few places that use it bump the version themselves.
"""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from i2v.lib.cache import bump_on_commit

from .models import Output, Pipeline, Step, Tag


@receiver([post_save, post_delete], sender=Pipeline)
@receiver([post_save, post_delete], sender=Step)
@receiver([post_save, post_delete], sender=Output)
@receiver([post_save, post_delete], sender=Tag)
def invalidate_owner_lists(sender, instance, **kwargs):
    bump_on_commit("jobs", instance.owner_id)


@receiver(m2m_changed, sender=Pipeline.tags.through)
def invalidate_on_tagging(sender, instance, action, **kwargs):
    if action.startswith("post_"):
        bump_on_commit("jobs", instance.owner_id)
