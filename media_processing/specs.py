"""The renditions every image gets: 150, 300 and 600 px JPEGs.

ImageKit specs hold the definition (processors, format, encoder options) so
there is one place to change a size or a quality. They are not run through
ImageKit's cache-file machinery: renditions.py applies them to an image that is
decoded once, and names the results by their content.
"""

from imagekit import ImageSpec, register
from imagekit.processors import ResizeToFit

# Progressive JPEGs paint a blurred whole image first on slow links, and
# optimize (Huffman tables fitted to the image) saves a few percent for free.
JPEG_OPTIONS = {"quality": 65, "progressive": True, "optimize": True}


class Rendition600(ImageSpec):
    """Hover preview and lightbox: big enough to judge a result, far smaller than the original."""

    processors = [ResizeToFit(600, 600, upscale=False)]
    format = "JPEG"
    options = JPEG_OPTIONS


class Rendition300(ImageSpec):
    """Grid tiles on high-density screens."""

    processors = [ResizeToFit(300, 300, upscale=False)]
    format = "JPEG"
    options = JPEG_OPTIONS


class Rendition150(ImageSpec):
    """List thumbnails (one per Jobs row). The budget is 8 KB, hence the lower quality."""

    processors = [ResizeToFit(150, 150, upscale=False)]
    format = "JPEG"
    options = {**JPEG_OPTIONS, "quality": 60}


# Largest first: each size is made from the one before it, which is much
# cheaper than resampling the full original three times.
RENDITION_SPECS = (("600", Rendition600), ("300", Rendition300), ("150", Rendition150))

for _size, _spec in RENDITION_SPECS:
    register.generator(f"i2v:rendition_{_size}", _spec)
