"""PostgreSQL only: the planner reads a word's frequency off 300 values of search_text, not
100, as the Jobs list's does (jobs migration 0018, which says why; issue 10). The table's
filter statistics already sample 120,000 rows (0011), so ANALYZE takes no longer.
"""

from django.db import migrations

from i2v.lib.migrations import set_column_statistics


class Migration(migrations.Migration):
    atomic = False  # ANALYZE of a big table needn't hold a transaction open

    dependencies = [("library", "0011_filter_stats_rarer_combinations")]

    operations = [set_column_statistics("library_asset", "search_text", 300)]
