"""Any write to an asset invalidates its owner's cached Library lists.

Signals rather than calls in views: the processing worker saves assets too
(renditions done, failed), and the Library must see that exactly as it sees an
upload. QuerySet.update() and bulk_create() send no signal; code that uses
them on assets bumps the version itself (bump_on_commit("library", owner_id)).

An asset deleted through the ORM (the admin, a user deleted with their
assets) hands its files to the collector; bulk deletes do it themselves
(AssetQuerySet.delete_in_bulk).
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from i2v.lib.cache import bump_on_commit

from .models import Asset, Tombstone, stored_names


@receiver([post_save, post_delete], sender=Asset)
def invalidate_owner_lists(sender, instance, **kwargs):
    bump_on_commit("library", instance.owner_id)
    if instance.source == Asset.Source.GENERATED:
        # Generated assets are the Jobs rows' covers and output tiles: a
        # finished rendition must show there too.
        bump_on_commit("jobs", instance.owner_id)


@receiver(post_delete, sender=Asset)
def bury_files(sender, instance, **kwargs):
    Tombstone.objects.bury(stored_names(instance.original.name, instance.renditions))
