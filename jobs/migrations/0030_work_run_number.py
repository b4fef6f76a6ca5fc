"""The work queue's run number (i2v/lib/workqueue.py WorkItem.run): which run holds a row, never counted back.

A column with a constant default and no CHECK: PostgreSQL adds it to the catalog alone, no rewrite, no scan."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0029_signature_always'),
    ]

    operations = [
        migrations.AddField(
            model_name='step',
            name='run',
            field=models.IntegerField(db_default=0, default=0),
        ),
    ]
