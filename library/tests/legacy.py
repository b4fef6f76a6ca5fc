"""Assets as the app stored them before media had owners, for the collector and scope_media tests."""

import hashlib
import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from library.models import Asset
from media_processing.renditions import encode_renditions


def legacy_asset(owner, data):
    """An asset as the app stored it before files had owners: shared, content-addressed names."""
    sha = hashlib.sha256(data).hexdigest()
    original = f"originals/{sha[:2]}/{sha}.png"
    if not default_storage.exists(original):
        default_storage.save(original, ContentFile(data))
    asset = Asset(owner=owner, sha256=sha, original=original, filename="old.png", kind="image")
    renditions, _, encoded = encode_renditions(Image.open(io.BytesIO(data)).convert("RGB"), asset)
    for entry in renditions.values():
        data = encoded[entry["name"]].file.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        entry["name"] = f"r/{digest[:2]}/{digest[2:32]}.jpg"
        if not default_storage.exists(entry["name"]):
            default_storage.save(entry["name"], ContentFile(data))
    asset.renditions = renditions
    asset.save()
    return asset
