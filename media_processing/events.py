"""What media processing tells the rest of the app (outgoing webhooks listen).

Sent inside the transaction that records the work as done: a listener's rows
commit with it.
"""

from django.dispatch import Signal

# An asset's thumbnails (or a video's poster) were made. Arguments: asset.
asset_processed = Signal()
