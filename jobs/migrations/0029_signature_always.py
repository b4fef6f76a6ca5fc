"""PostgreSQL only: migration 0028's signature trigger fires in replica mode too, and the signatures it
left out there are filled in (i2v/lib/migrations.py signature_always()).

seed_demo loads with session_replication_role = replica, which skipped the trigger as 0028 made it: every
seeded pipeline had a NULL signature, counted as a possible match, so a search walked their rows as before.
"""

from django.db import migrations

from i2v.lib.migrations import signature_always


class Migration(migrations.Migration):
    atomic = False  # the fill commits batch by batch

    dependencies = [("jobs", "0028_search_signature")]

    operations = signature_always("jobs_pipeline")
