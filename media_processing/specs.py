"""The renditions every image gets: 150, 300 and 600 px JPEGs, and the display
variants that fit a 1080p and a 4K screen.

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


class FitDisplay:
    """Fit within a screen of `long` x `short` pixels held either way round, never
    upscaling: a portrait photo fits 1080x1920, a landscape one 1920x1080."""

    def __init__(self, long, short):
        self.long, self.short = long, short

    def box(self, width, height):
        return (self.long, self.short) if width >= height else (self.short, self.long)

    def process(self, img):
        return ResizeToFit(*self.box(img.width, img.height), upscale=False).process(img)


def fit_box(spec, width, height):
    """The (width, height) box a spec fits an image of width x height into, never
    upscaling: what renditions.py asks libvips for, read from the spec itself."""
    [processor] = spec.processors
    if isinstance(processor, FitDisplay):
        return processor.box(width, height)
    assert isinstance(processor, ResizeToFit) and not processor.upscale, "renditions only ever fit, down"
    return processor.width, processor.height


def jpeg_options(spec):
    """The spec's JPEG encoder options, in libvips' words."""
    return {
        "Q": spec.options["quality"],
        "interlace": spec.options.get("progressive", False),
        "optimize_coding": spec.options.get("optimize", False),
    }


# Full-screen viewing: sharp enough that the original, often tens of MB, is only
# fetched on an explicit download.
VARIANT_OPTIONS = {**JPEG_OPTIONS, "quality": 82}


class Variant2160(ImageSpec):
    """A 4K screen (3840x2160 either way round)."""

    processors = [FitDisplay(3840, 2160)]
    format = "JPEG"
    options = VARIANT_OPTIONS


class Variant1080(ImageSpec):
    """A 1080p screen (1920x1080 either way round)."""

    processors = [FitDisplay(1920, 1080)]
    format = "JPEG"
    options = VARIANT_OPTIONS


# Keyed by the short side of the screen; largest first, each made from the one before.
VARIANT_SPECS = (("2160", Variant2160), ("1080", Variant1080))

for _key, _spec in VARIANT_SPECS:
    register.generator(f"i2v:variant_{_key}", _spec)
