"""The local preview provider (synchronous, free), and the provider registry."""

import io
from decimal import Decimal

import av
import pytest
from PIL import Image

from jobs.providers.base import Job, ProviderError, UnknownModel, get_provider
from jobs.providers.local import LABEL, LocalProvider, looks_of

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


def test_it_renders_the_same_image_for_the_same_inputs(images):
    first = images.image(source(), PROMPT, {"seed": 2})
    again = images.image(source(), PROMPT, {"seed": 2})

    assert first.data == again.data


def test_it_renders_different_images_for_different_prompts(images):
    one = images.image(source(), PROMPT, {})
    other = images.image(source(), "a lighthouse at noon, watercolour", {})

    assert one.data != other.data


def test_it_renders_variants_that_differ_by_seed(images):
    variants = [images.image(source(), "a lighthouse", {"seed": seed}) for seed in (40, 41, 42)]

    assert len({f.data for f in variants}) == 3


def test_it_accepts_a_pil_image_as_well_as_bytes(images):
    from_bytes = images.image(source(), PROMPT, {})
    from_pil = images.image(Image.open(io.BytesIO(source())), PROMPT, {})

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
    file = images.image(source(), PROMPT, {"aspect_ratio": ratio, "quality": quality})

    assert decode(file).size == size
    assert (file.width, file.height) == size


def test_it_keeps_the_source_aspect_without_a_ratio(images):
    file = images.image(source((300, 600)), PROMPT, {"quality": "draft"})

    assert (file.width, file.height) == (256, 512)


def test_it_makes_images_that_decode(images):
    for file in (images.image(source(), PROMPT, {"seed": n}) for n in range(2)):
        image = decode(file)
        assert (image.format, file.mime, file.extension, file.kind) == ("JPEG", "image/jpeg", "jpg", "image")
        assert image.size == (file.width, file.height)


def test_it_answers_a_submission_with_the_file_and_no_cost(images, videos):
    job = Job("local-i2i", "i2i", PROMPT, {}, source=source, token="t1")
    remote = images.submit(job)
    assert (remote.state, len(remote.files), remote.reported_cost) == ("completed", 1, Decimal("0"))
    video = videos.submit(Job("local-i2v", "i2v", PROMPT, {"duration": 1}, source=source, token="t2"))
    assert video.files[0].kind == "video" and images.synchronous and images.resubmit_safe


def test_it_rejects_a_source_that_is_not_an_image(images):
    with pytest.raises(ProviderError, match="source image can't be decoded.*HTML") as caught:
        images.image(b"<html>nope</html>", PROMPT, {})

    assert not caught.value.retryable


def test_it_rejects_a_source_over_the_pixel_cap(images, settings):
    settings.GENERATION_MAX_PIXELS = 100_000

    with pytest.raises(ProviderError, match="640x480 pixels is over the limit"):
        images.image(source(), PROMPT, {})


@pytest.mark.parametrize(
    "options, message",
    [
        ({"seed": -1}, "seed must be between 0 and"),
        ({"seed": "many"}, "seed must be a whole number"),
        ({"aspect_ratio": "5:1"}, "aspect_ratio must be auto or one of"),
        ({"quality": "ultra"}, "quality must be one of draft, standard, high"),
    ],
)
def test_it_rejects_bad_settings_with_a_clear_message(images, options, message):
    with pytest.raises(ProviderError, match=message):
        images.image(source(), PROMPT, options)


def test_it_makes_a_video_that_decodes_with_the_expected_length(videos):
    file = videos.video(source(), "slow dolly in", {"duration": 2, "fps": 12})

    video = probe(file.data)
    assert video["frames"] == 24
    assert video["duration"] == pytest.approx(2.0, abs=0.1)
    assert video["codec"] in ("h264", "mpeg4") and video["pix_fmt"] == "yuv420p"
    assert video["size"] == (file.width, file.height) == (640, 480)
    assert (file.mime, file.extension, file.kind, file.duration) == ("video/mp4", "mp4", "video", 2.0)


def test_it_caps_the_length_and_resolution_of_a_video(videos):
    file = videos.video(source((800, 1000)), PROMPT, {"duration": 10, "resolution": "1080p", "fps": 12})

    video = probe(file.data)
    # 4 s at most, and 720p at most: the image fitted in a 720x1280 box, upright like it.
    assert video["frames"] == 48
    assert video["size"] == (720, 900)


def test_it_crops_a_video_to_the_requested_aspect_ratio(videos):
    file = videos.video(source(), PROMPT, {"duration": 1, "aspect_ratio": "16:9"})

    assert probe(file.data)["size"] == (854, 480)


def test_it_makes_the_same_video_for_the_same_inputs(videos):
    options = {"duration": 1, "fps": 12}

    first = videos.video(source(), PROMPT, options)
    again = videos.video(source(), PROMPT, options)
    other = videos.video(source(), "rain starts to fall", options)

    assert first.data == again.data
    assert first.data != other.data


def test_it_reports_progress(videos):
    notes = []

    videos.video(source(), PROMPT, {"duration": 1, "fps": 24}, on_progress=notes.append)

    assert notes == ["frame 12 of 24", "frame 24 of 24"]


def test_it_refuses_the_wrong_kind_of_work(images, videos):
    with pytest.raises(ProviderError, match="makes images"):
        images.submit(Job("local-i2i", "i2v", PROMPT, {}, source=source, token="t"))
    with pytest.raises(ProviderError, match="makes videos"):
        videos.submit(Job("local-i2v", "i2i", PROMPT, {}, source=source, token="t"))


def test_it_names_the_models_when_a_model_is_unknown():
    with pytest.raises(UnknownModel, match="Unknown generation model 'dall-e-9'.*flux-kontext") as caught:
        get_provider("dall-e-9")

    assert not caught.value.retryable


def test_it_says_when_a_model_names_no_provider(settings):
    settings.GENERATION_MODELS = {"odd": {"label": "Odd", "kind": "i2i", "provider": "nowhere"}}

    with pytest.raises(ProviderError, match="provider 'nowhere', which doesn't exist"):
        get_provider("odd")


def test_it_turns_the_source_by_the_words_of_the_prompt(images):
    plain = decode(images.image(source(), "a lighthouse", {"quality": "draft"}))
    sketch = decode(images.image(source(), "a lighthouse, pencil sketch", {"quality": "draft"}))
    sepia = decode(images.image(source(), "a lighthouse, vintage sepia photo", {"quality": "draft"}))

    assert looks_of("a pencil sketch at sunset") == ["sketch", "sunset"]
    r, g, b = sketch.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert abs(r - g) < 12 and abs(g - b) < 12, "a sketch is grey"
    r, g, b = sepia.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert r > g > b, "sepia is warm brown"
    # The source shows through: its red square is still where it was in the plain render.
    w, h = plain.size
    square = plain.convert("RGB").getpixel((int(w * 0.37), int(h * 0.3)))
    assert square[0] > square[2] + 60
