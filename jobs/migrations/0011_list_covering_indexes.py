"""The Jobs list's indexes carry the other filter columns (INCLUDE), issue 10.

Any combination of status, model, favourite and hidden, in any sort and date
range, is then checked in the index (an index-only scan) instead of row by row
in the table: "status=pending&hidden=only" read 20,000 rows to find 1,000. The new
indexes are built concurrently before the old ones are dropped, so the list is
never without one. SQLite has no INCLUDE: it gets the same indexes without it.
"""

from django.db import migrations, models

from i2v.lib.migrations import AddIndexSafely, RemoveIndexSafely


class Migration(migrations.Migration):
    atomic = False  # indexes are built and dropped concurrently

    dependencies = [("jobs", "0010_list_tag_names")]

    operations = [
        AddIndexSafely(
            model_name="pipeline",
            index=models.Index(
                fields=["owner", "-created_at", "-id"], include=["status", "model", "is_favorite", "total_cost"],
                name="pipe_visible_cover", condition=models.Q(is_hidden=False),
            ),
        ),
        AddIndexSafely(
            model_name="pipeline",
            index=models.Index(
                fields=["owner", "-created_at", "-id"], include=["status", "model", "is_favorite", "is_hidden", "total_cost"],
                name="pipe_created_cover",
            ),
        ),
        AddIndexSafely(
            model_name="pipeline",
            index=models.Index(
                fields=["owner", "-created_at", "-id"], include=["status", "model", "is_favorite", "total_cost"],
                name="pipe_hidden_cover", condition=models.Q(is_hidden=True),
            ),
        ),
        AddIndexSafely(
            model_name="pipeline",
            index=models.Index(
                fields=["owner", "status", "-created_at", "-id"], include=["model", "is_favorite", "is_hidden", "total_cost"],
                name="pipe_status_cover",
            ),
        ),
        AddIndexSafely(
            model_name="pipeline",
            index=models.Index(
                fields=["owner", "model", "-created_at", "-id"], include=["status", "is_favorite", "is_hidden", "total_cost"],
                name="pipe_model_cover",
            ),
        ),
        AddIndexSafely(
            model_name="pipeline",
            index=models.Index(
                fields=["owner", "-created_at", "-id"], include=["status", "model", "total_cost"],
                name="pipe_favorite_cover", condition=models.Q(is_favorite=True, is_hidden=False),
            ),
        ),
        AddIndexSafely(
            model_name="pipeline",
            index=models.Index(
                fields=["owner", "name", "id"], include=["created_at", "status", "model", "is_favorite", "is_hidden"],
                name="pipe_name_cover",
            ),
        ),
        AddIndexSafely(
            model_name="pipeline",
            index=models.Index(
                fields=["owner", "-total_cost", "-id"], include=["created_at", "status", "model", "is_favorite", "is_hidden"],
                name="pipe_cost_cover",
            ),
        ),
        RemoveIndexSafely(model_name="pipeline", name="pipe_visible_created"),
        RemoveIndexSafely(model_name="pipeline", name="pipe_owner_created"),
        RemoveIndexSafely(model_name="pipeline", name="pipe_hidden_created"),
        RemoveIndexSafely(model_name="pipeline", name="pipe_status_created"),
        RemoveIndexSafely(model_name="pipeline", name="pipe_model_created"),
        RemoveIndexSafely(model_name="pipeline", name="pipe_favorite_created"),
        RemoveIndexSafely(model_name="pipeline", name="pipe_owner_name"),
        RemoveIndexSafely(model_name="pipeline", name="pipe_owner_cost"),
    ]  # fmt: skip
