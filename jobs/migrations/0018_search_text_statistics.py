"""PostgreSQL only: the planner reads a word's frequency off 300 values of search_text, not 100 (issue 10).

A search's estimate (`search_text LIKE '%word%'`) is the share of the column's histogram
values holding the word. At the default target, 99 of them: at a million pipelines,
"sailboat", in 67,158 visible pipelines, was put at 19,259 to 115,488 by fourteen ANALYZEs,
and once at 95 (no value held it); at 300, eight gave 44,547 to 85,911. The list chooses
walk or fetch on that estimate (i2v/lib/pagination.py first_page(), which also stops a fetch
that finds ten times what was estimated). Planning a search then tests 299 values, not 99:
0.17-0.28 ms against 0.09-0.19 a plan, measured. ANALYZE samples 90,000 rows, not 30,000.
"""

from django.db import migrations

from i2v.lib.migrations import set_column_statistics


class Migration(migrations.Migration):
    atomic = False  # ANALYZE of a big table needn't hold a transaction open

    dependencies = [("jobs", "0017_step_pipeline_order_holds_kind_status")]

    operations = [set_column_statistics("jobs_pipeline", "search_text", 300)]
