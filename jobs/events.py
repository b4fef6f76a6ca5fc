"""What the pipeline domain tells the rest of the app (outgoing webhooks listen).

Sent inside the transaction that makes the change, so a listener that writes
rows (a webhook delivery) commits or rolls back with it: nothing reported that
didn't happen, nothing that happened left unreported.
"""

from django.dispatch import Signal

# A pipeline reached completed or failed (from any other status). Arguments: pipeline.
pipeline_ended = Signal()
