# Favourite and hidden assets, set from the viewer.

from django.conf import settings
from django.db import migrations, models

from i2v.lib.migrations import AddIndexSafely


class Migration(migrations.Migration):
    # The index is built CONCURRENTLY on PostgreSQL, which can't run in a transaction;
    # the columns have database defaults, so adding them rewrites nothing.
    atomic = False

    dependencies = [
        ("library", "0005_remote_assets"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="asset",
            name="is_favorite",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name="asset",
            name="is_hidden",
            field=models.BooleanField(db_default=False, default=False),
        ),
        AddIndexSafely(
            model_name="asset",
            index=models.Index(
                condition=models.Q(("is_hidden", True)), fields=["owner", "-created_at", "-id"], name="asset_hidden_created"
            ),
        ),
    ]
