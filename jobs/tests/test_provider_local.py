"""The local preview provider, and the registry and price table every provider shares."""

import io
from decimal import Decimal

import av
import pytest
from PIL import Image

from jobs.providers.base import ProviderError, UnknownModel, estimate_cost, get_provider
from jobs.providers.local import LABEL, LocalProvider

PROMPT = "a lighthouse at dusk, oil painting"


def source(size=(640, 480)):
    # A gradient with a square: restyled output differs visibly from prompt to prompt.
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste((220, 60, 40), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def images():
    return get_provider("local-i2i")


@pytest.fixture
def videos():
    return get_provider("local-i2v")


def decode(file):
    image = Image.open(io.BytesIO(file.data))
    image.load()
    return image


def probe(data):
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {
            "codec": stream.codec_context.name,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "pix_fmt": stream.codec_context.pix_fmt,
            "frames": frames,
            "duration": container.duration / av.time_base,
        }


def test_it_is_the_provider_of_the_local_models(images, videos):
    assert isinstance(images, LocalProvider) and isinstance(videos, LocalProvider)
    assert images.label == LABEL == "Local preview provider"


def test_it_renders_the_same_images_for_the_same_inputs(images):
    first = images.generate_images(source(), PROMPT, {"images_per_prompt": 2})
    again = images.generate_images(source(), PROMPT, {"images_per_prompt": 2})

    assert [f.data for f in first.files] == [f.data for f in again.files]


def test_it_renders_different_images_for_different_prompts(images):
    one = images.generate_images(source(), PROMPT, {}).files[0]
    other = images.generate_images(source(), "a lighthouse at noon, watercolour", {}).files[0]

    assert one.data != other.data


def test_it_renders_variants_that_differ_by_seed(images):
    result = images.generate_images(source(), PROMPT, {"images_per_prompt": 3, "seed": 40})

    assert len({f.data for f in result.files}) == 3
    assert result.metadata["seeds"] == [40, 41, 42]


def test_it_accepts_a_pil_image_as_well_as_bytes(images):
    from_bytes = images.generate_images(source(), PROMPT, {}).files[0]
    from_pil = images.generate_images(Image.open(io.BytesIO(source())), PROMPT, {}).files[0]

    assert from_bytes.data == from_pil.data


@pytest.mark.parametrize(
    "ratio, quality, size",
    [
        ("1:1", "standard", (1024, 1024)),
        ("16:9", "standard", (1024, 576)),
        ("9:16", "standard", (576, 1024)),
        ("4:3", "draft", (512, 384)),
        ("2:3", "high", (1024, 1536)),
    ],
)
def test_it_honours_the_aspect_ratio_and_quality(images, ratio, quality, size):
    (file,) = images.generate_images(source(), PROMPT, {"aspect_ratio": ratio, "quality": quality}).files

    assert decode(file).size == size
    assert (file.width, file.height) == size


def test_it_keeps_the_source_aspect_without_a_ratio(images):
    (file,) = images.generate_images(source((300, 600)), PROMPT, {"quality": "draft"}).files

    assert (file.width, file.height) == (256, 512)


def test_it_makes_images_that_decode(images):
    result = images.generate_images(source(), PROMPT, {"images_per_prompt": 2})

    for file in result.files:
        image = decode(file)
        assert (image.format, file.mime, file.extension, file.kind) == ("JPEG", "image/jpeg", "jpg", "image")
        assert image.size == (file.width, file.height)


def test_it_costs_nothing(images, videos):
    assert images.generate_images(source(), PROMPT, {"images_per_prompt": 4}).cost == Decimal("0")
    assert videos.generate_video(source(), PROMPT, {"duration": 1}).cost == Decimal("0")


def test_it_rejects_a_source_that_is_not_an_image(images):
    with pytest.raises(ProviderError, match="source image can't be decoded.*HTML") as caught:
        images.generate_images(b"<html>nope</html>", PROMPT, {})

    assert not caught.value.retryable


def test_it_rejects_a_source_over_the_pixel_cap(images, settings):
    settings.GENERATION_MAX_PIXELS = 100_000

    with pytest.raises(ProviderError, match="640x480 pixels is over the limit"):
        images.generate_images(source(), PROMPT, {})


@pytest.mark.parametrize(
    "options, message",
    [
        ({"images_per_prompt": 9}, "images_per_prompt must be between 1 and 4"),
        ({"images_per_prompt": "many"}, "images_per_prompt must be a whole number"),
        ({"aspect_ratio": "5:1"}, "aspect_ratio must be auto or one of"),
        ({"quality": "ultra"}, "quality must be one of draft, standard, high"),
    ],
)
def test_it_rejects_bad_settings_with_a_clear_message(images, options, message):
    with pytest.raises(ProviderError, match=message):
        images.generate_images(source(), PROMPT, options)


def test_it_makes_a_video_that_decodes_with_the_expected_length(videos):
    result = videos.generate_video(source(), "slow dolly in", {"duration": 2, "fps": 12})

    (file,) = result.files
    video = probe(file.data)
    assert video["frames"] == 24
    assert video["duration"] == pytest.approx(2.0, abs=0.1)
    assert video["codec"] in ("h264", "mpeg4") and video["pix_fmt"] == "yuv420p"
    assert video["size"] == (file.width, file.height) == (640, 480)
    assert (file.mime, file.extension, file.kind, file.duration) == ("video/mp4", "mp4", "video", 2.0)


def test_it_caps_the_length_and_resolution_of_a_video(videos):
    result = videos.generate_video(source((800, 1000)), PROMPT, {"duration": 10, "resolution": "1080p", "fps": 12})

    (file,) = result.files
    video = probe(file.data)
    # 4 s at most, and 720p at most: the image fitted in a 720x1280 box, upright like it.
    assert video["frames"] == 48
    assert video["size"] == (720, 900)
    assert result.metadata["requested_duration"] == 10


def test_it_crops_a_video_to_the_requested_aspect_ratio(videos):
    (file,) = videos.generate_video(source(), PROMPT, {"duration": 1, "aspect_ratio": "16:9"}).files

    assert probe(file.data)["size"] == (854, 480)


def test_it_makes_the_same_video_for_the_same_inputs(videos):
    options = {"duration": 1, "fps": 12}

    first = videos.generate_video(source(), PROMPT, options).files[0]
    again = videos.generate_video(source(), PROMPT, options).files[0]
    other = videos.generate_video(source(), "rain starts to fall", options).files[0]

    assert first.data == again.data
    assert first.data != other.data


def test_it_reports_progress(videos):
    notes = []

    videos.generate_video(source(), PROMPT, {"duration": 1, "fps": 24}, on_progress=notes.append)

    assert notes == ["frame 12 of 24", "frame 24 of 24"]


def test_it_refuses_the_wrong_kind_of_work(images, videos):
    with pytest.raises(ProviderError, match="makes images"):
        images.generate_video(source(), PROMPT, {})
    with pytest.raises(ProviderError, match="makes videos"):
        videos.generate_images(source(), PROMPT, {})


def test_it_names_the_models_when_a_model_is_unknown():
    with pytest.raises(UnknownModel, match="Unknown generation model 'dall-e-9'.*flux-kontext") as caught:
        get_provider("dall-e-9")

    assert not caught.value.retryable


def test_it_says_when_a_model_names_no_provider(settings):
    settings.GENERATION_MODELS = {"odd": {"label": "Odd", "kind": "i2i", "provider": "nowhere"}}

    with pytest.raises(ProviderError, match="provider 'nowhere', which doesn't exist"):
        get_provider("odd")


def test_it_estimates_cost_from_the_price_table():
    assert estimate_cost("flux-kontext", images=25) == Decimal("1.0000")
    assert estimate_cost("kling-2.1", video_seconds=10) == Decimal("0.5000")
    assert estimate_cost("veo-3", video_seconds=Decimal("2.5")) == Decimal("1.0000")
    assert estimate_cost("local-i2i", images=1000) == Decimal("0")
    with pytest.raises(UnknownModel):
        estimate_cost("nope", images=1)
