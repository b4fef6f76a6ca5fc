"""PostgreSQL only: migration 0023's signature trigger fires in replica mode too, and the signatures it
left out there are filled in (i2v/lib/migrations.py signature_always(); jobs migration 0029 says why).
"""

from django.db import migrations

from i2v.lib.migrations import signature_always


class Migration(migrations.Migration):
    atomic = False  # the fill commits batch by batch

    dependencies = [("library", "0023_search_signature")]

    operations = signature_always("library_asset")
