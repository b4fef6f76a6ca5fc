"""Fill the database with realistic demo pipelines: `manage.py seed_demo --pipelines 60`.

Two halves:

- A pool of real assets: pictures painted with Pillow from a prompt (and a few
  short MP4s made with PyAV), stored through the storage API with renditions,
  exactly like generated outputs. Outputs point at random pool assets, so a
  million pipelines need only a few hundred files.
- Rows: pipelines with steps, outputs and tags, generated from one seeded
  random.Random (same --seed, same rows) and written in chunks. PostgreSQL gets
  COPY with ids assigned here, which loads a million pipelines with five
  million outputs in minutes; SQLite, the small embedded default, gets
  bulk_create.
"""

import colorsys
import hashlib
import io
import json
import math
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import av
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from PIL import Image, ImageDraw, ImageOps
from tqdm import tqdm

from i2v.lib.cache import bump_owner_version
from jobs.catalog import bill
from jobs.models import Output, Pipeline, PipelineTag, Step, Tag
from library.media import store_all
from library.models import Asset, original_path
from media_processing.renditions import make_renditions

# Rows per transaction. On PostgreSQL each chunk is four COPYs: big enough that
# per-statement costs vanish, small enough that the deferred foreign-key checks
# queued until commit stay a few hundred MB at most.
COPY_CHUNK = 25_000
ORM_CHUNK = 2_000
HISTORY = timedelta(days=730)
MAX_OUTPUTS = 12
MAX_STEPS = 3
MAX_TAGS = 3
VIDEO_EVERY = 20  # one pool asset in 20 is a video, for the outputs of i2v steps
VIDEO_SECONDS = 2
# A demo step's settings as the New pipeline form's defaults give them (jobs/forms.py): what it is billed for.
DEMO_SETTINGS = {"quality": "standard", "duration": 5, "resolution": "720p"}
VIDEO_SETTINGS = f'"resolution": "{DEMO_SETTINGS["resolution"]}", "duration": {DEMO_SETTINGS["duration"]}'


# --- Vocabulary. Names, prompts and errors read like a real user's history. ---

SUBJECTS = [
    "Sunset portraits", "Product shots", "Sneaker lookbook", "Coffee brand stills", "Real estate interiors",
    "Fashion editorial", "Food photography", "Car renders", "Mountain landscapes", "Pet portraits",
    "Wedding album", "Album covers", "Watch close-ups", "Skincare flatlays", "Architecture studies",
    "Street scenes", "Character concepts", "Travel posters", "Furniture catalogue", "Jewelry hero shots",
    "Headshots", "Book covers", "Cocktail menu", "Hotel lobby", "Festival posters", "Bike ads",
]  # fmt: skip
PRODUCTS = [
    "sneakers", "headphones", "perfume", "backpack", "sunglasses", "espresso machine", "lipstick",
    "mechanical keyboard", "water bottle", "running shoes", "desk lamp", "smartwatch", "handbag",
]  # fmt: skip
CLIENTS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Soylent", "Vandelay", "Pied Piper"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
NAME_TEMPLATES = [
    "{subject} batch {n}",
    "Product shots — {product} v{n}",
    "{client}: {subject}",
    "{subject} v{n}",
    "{subject} ({month})",
    "Test run {n}: {subject}",
    "{client} {product} campaign",
    "{subject} — retake {n}",
]

ADJECTIVES = [
    "golden", "moody", "vibrant", "minimal", "cinematic", "soft", "dramatic", "pastel", "neon", "rustic",
    "elegant", "dreamy", "gritty", "serene", "bold", "vintage", "futuristic", "warm", "icy", "lush",
]  # fmt: skip
NOUNS = [
    "portrait of a woman", "portrait of an old fisherman", "pair of sneakers", "perfume bottle", "mountain lake",
    "city skyline", "cup of coffee", "sports car", "golden retriever", "living room", "wedding couple",
    "bowl of ramen", "leather handbag", "lighthouse", "desert road", "forest cabin", "jazz musician",
    "bouquet of tulips", "vintage camera", "sailboat", "robot", "tea ceremony", "skateboarder", "wristwatch",
]  # fmt: skip
SETTINGS = [
    "at sunset", "in a studio", "on a marble table", "in the rain", "at blue hour", "on a beach",
    "in a neon alley", "in a misty forest", "on a rooftop", "in a sunlit kitchen", "under northern lights",
    "against a pastel backdrop", "in a snowy village", "at a night market", "in an art deco lobby",
]  # fmt: skip
STYLES = [
    "35mm film photo", "studio product photography", "oil painting", "watercolor", "editorial photography",
    "3d render", "anime key visual", "polaroid", "fashion magazine cover", "architectural photography",
    "isometric illustration", "double exposure", "hasselblad medium format", "low poly art",
]  # fmt: skip
LIGHTING = [
    "soft window light", "rim light", "golden hour glow", "hard flash", "volumetric fog", "backlit",
    "overcast daylight", "candlelight", "neon reflections", "high key lighting", "chiaroscuro",
]  # fmt: skip
MOTIONS = [
    "slow dolly in", "camera orbits the subject", "gentle handheld sway", "timelapse clouds drifting",
    "parallax pan from left to right", "subject turns to the camera and smiles", "product rotates on a turntable",
    "rain starts to fall", "hair moves in the wind", "slow zoom out to reveal the scene", "waves roll in",
]  # fmt: skip
DESCRIPTIONS = [
    "Second pass with warmer grading.",
    "For the Q3 campaign deck.",
    "Client asked for more negative space around the product.",
    "Comparing this model against last week's batch.",
    "Retry with a stricter prompt; the first run drifted.",
    "Winners go to the shared drive on Friday.",
    "Social cut-downs, vertical first.",
    "Hero images for the landing page.",
    "Exploring looks before the real shoot.",
    "Only the top row made it into the pitch.",
]
ERRORS = [
    "Provider timed out after 300 s",
    "Content policy: the provider rejected the prompt",
    "Rate limited (HTTP 429) after 3 attempts",
    "Source image could not be decoded",
    "Provider returned HTTP 502 Bad Gateway",
    "Insufficient provider credits",
    "Output failed validation: empty image",
]
TAG_NAMES = [
    "portrait", "product", "landscape", "client-acme", "client-globex", "client-initech", "social",
    "campaign-q3", "campaign-q4", "test", "final", "draft", "video", "hero", "lookbook", "archive",
    "approved", "needs-review", "print", "4k",
]  # fmt: skip
ASPECTS = {"1:1": (1, 1), "3:4": (3, 4), "4:3": (4, 3), "16:9": (16, 9), "9:16": (9, 16), "2:3": (2, 3)}

# --- Weights. Mostly finished work, like a real account a few months in. ---

PIPELINE_STATUSES = [("completed", 78), ("failed", 9), ("cancelled", 5), ("paused", 3), ("running", 3), ("pending", 2)]
MODES = [("auto", 70), ("manual", 18), ("checkpoint", 12)]
# Kinds of the steps of a pipeline, in order; i2i-only pipelines dominate.
STEP_PATTERNS = [
    (("i2i",), 45), (("i2i", "i2v"), 25), (("i2i", "i2i"), 12), (("i2i", "i2i", "i2v"), 8),
    (("prompt_enhance", "i2i"), 5), (("i2v",), 5),
]  # fmt: skip
PROMPT_COUNTS = [(1, 45), (2, 25), (3, 15), (4, 9), (5, 6)]
TAG_COUNTS = [(0, 40), (1, 35), (2, 17), (3, 8)]
ACTIVE = {"pending", "running", "paused"}


class Command(BaseCommand):
    help = "Seed realistic demo pipelines, steps, outputs, tags and real assets with renditions."

    def add_arguments(self, parser):
        parser.add_argument("--pipelines", type=int, required=True, help="how many pipelines to create")
        parser.add_argument("--outputs-per-pipeline", type=float, default=5.0, help="mean outputs per pipeline (1..12)")
        parser.add_argument("--owner", default="demo", help="username; created without a usable password if missing")
        parser.add_argument("--assets", type=int, help="size of the asset pool (default: scales with --pipelines)")
        parser.add_argument("--if-empty", action="store_true", help="do nothing if the owner already has pipelines")
        parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same data")

    def handle(self, *args, **opts):
        started = time.monotonic()
        count = opts["pipelines"]
        if count < 0:
            raise CommandError("--pipelines must be zero or more.")
        if not 1 <= opts["outputs_per_pipeline"] <= MAX_OUTPUTS:
            raise CommandError(f"--outputs-per-pipeline must be between 1 and {MAX_OUTPUTS}.")
        owner = demo_owner(opts["owner"])
        if opts["if_empty"] and owner.pipelines.exists():
            return f"{owner.username} already has pipelines; nothing seeded (--if-empty)."
        quiet = opts["verbosity"] == 0
        asset_count = opts["assets"] if opts["assets"] is not None else default_asset_count(count)
        pool = AssetPool.build(owner, asset_count, opts["seed"], quiet)
        if count and not pool.images:
            raise CommandError("Outputs need assets: --assets must be at least 1.")
        tag_ids = [Tag.objects.for_name(owner.id, name).id for name in TAG_NAMES]
        rows = RowFactory(owner.id, pool, tag_ids, opts["seed"], opts["outputs_per_pipeline"])
        totals = write_all(rows, count, quiet)
        # COPY and bulk_create send no signals: invalidate the owner's cached lists here.
        bump_owner_version("jobs", owner.id)
        bump_owner_version("library", owner.id)
        return (
            f"Seeded {count} pipelines, {totals['steps']} steps, {totals['outputs']} outputs, "
            f"{pool.created} assets for {owner.username} in {time.monotonic() - started:.1f} s"
        )


def demo_owner(username):
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if created:
        # Logging in is ensure_login's job; a seeded account must not have a guessable password.
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def default_asset_count(pipelines):
    # Enough variety that grids don't repeat on every row, few enough to render quickly.
    return min(2 * pipelines, 150 if pipelines <= 100 else 300)


# --- The asset pool --------------------------------------------------------------------------


@dataclass
class AssetPool:
    images: list = field(default_factory=list)  # asset ids
    videos: list = field(default_factory=list)
    created: int = 0

    @classmethod
    def build(cls, owner, count, seed, quiet):
        """Paint, store and render `count` assets (reusing any the owner already has)."""
        pool = cls()
        known = dict(Asset.objects.filter(owner=owner).values_list("sha256", "id"))
        end = now_to_the_hour()
        prompts = PromptBook(random.Random(f"assets:{seed}")).prompts(count)
        # Pillow and x264 release the GIL while they resample and encode, so a thread
        # per core roughly halves the time. Each asset depends only on its index,
        # so the result is the same in any order.
        with ThreadPoolExecutor(max_workers=2) as executor:
            jobs = (executor.submit(make_asset, owner, i, prompts[i], seed, known, end) for i in range(count))
            for job in tqdm(list(jobs), desc="assets", unit="asset", file=sys.stderr, disable=quiet):
                pool.add(*job.result(), known)
        return pool

    def add(self, asset, files, known):
        if asset.sha256 in known:
            asset_id = known[asset.sha256]
        else:
            # Stored here, not in the painting threads: storing talks to the database (media.store_all).
            store_all(files)
            asset.save()
            known[asset.sha256] = asset_id = asset.id
            self.created += 1
        (self.videos if asset.kind == Asset.Kind.VIDEO else self.images).append(asset_id)


def make_asset(owner, index, prompt, seed, known, end):
    """(an unsaved Asset with its renditions made, {name: file} of its original and renditions to store).

    An asset the owner already has (same bytes) comes back with no files;
    AssetPool.add() then reuses the existing row.
    """
    rng = random.Random(f"asset:{seed}:{index}")
    size = pick_size(rng)
    still = paint(prompt, rng, size)
    if index % VIDEO_EVERY == VIDEO_EVERY - 1:
        poster, data = make_video(still, rng)
        kind, ext, mime, duration = Asset.Kind.VIDEO, "mp4", "video/mp4", float(VIDEO_SECONDS)
    else:
        poster, data = still, jpeg_bytes(still)
        kind, ext, mime, duration = Asset.Kind.IMAGE, "jpg", "image/jpeg", None
    asset = Asset(
        owner=owner, kind=kind, source=Asset.Source.GENERATED, prompt=prompt, mime=mime, duration=duration,
        sha256=hashlib.sha256(data).hexdigest(), filename=f"{slug(prompt)}-{index + 1:04d}.{ext}", bytes=len(data),
        created_at=end - timedelta(seconds=rng.randrange(int(HISTORY.total_seconds()))),
    )  # fmt: skip
    if asset.sha256 in known:
        return asset, {}
    asset.original.name = original_path(asset, asset.filename)
    return asset, {asset.original.name: ContentFile(data), **make_renditions(asset, poster)}


def pick_size(rng):
    ratio_w, ratio_h = ASPECTS[rng.choice(list(ASPECTS))]
    long_side = rng.randrange(768, 1281, 64)
    scale = long_side / max(ratio_w, ratio_h)
    return round(ratio_w * scale), round(ratio_h * scale)


def paint(prompt, rng, size):
    """A soft, landscape-like picture whose colours come from the prompt's words.

    Drawn at a quarter of the size and scaled up, which blurs it like a shallow
    depth of field for free; fine grain on top gives JPEG sizes like a photo's.
    """
    width, height = size
    small = (max(width // 4, 8), max(height // 4, 8))
    palette = word_colours(prompt)
    rng.shuffle(palette)
    sky = ImageOps.colorize(Image.linear_gradient("L").resize(small), palette[0], palette[1])
    draw = ImageDraw.Draw(sky, "RGBA")
    draw_sun(draw, rng, small, palette[2])
    draw_bokeh(draw, rng, small, palette)
    draw_hills(draw, rng, small, palette[3 % len(palette)])
    picture = sky.resize(size, Image.Resampling.BICUBIC)
    grain = Image.frombytes("L", size, rng.randbytes(width * height)).convert("RGB")
    return Image.blend(picture, grain, 0.07)


def word_colours(prompt):
    """A colour per word, from a hash of the word: the same words, the same palette."""
    colours = []
    for word in prompt.replace(",", " ").split():
        digest = hashlib.sha256(word.encode()).digest()
        hue, sat, val = digest[0] / 255, 0.35 + digest[1] / 500, 0.45 + digest[2] / 510
        colours.append(tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, sat, val)))
    while len(colours) < 4:
        colours.append((200, 190, 170))
    return colours


def draw_sun(draw, rng, size, colour):
    w, h = size
    r = rng.randint(h // 12 + 1, h // 5 + 2)
    x, y = rng.randrange(w), rng.randrange(h // 2 + 1)
    draw.ellipse((x - r, y - r, x + r, y + r), fill=lighten(colour, 0.6) + (230,))


def draw_bokeh(draw, rng, size, palette):
    w, h = size
    for _ in range(rng.randint(6, 18)):
        r = rng.randint(2, max(3, h // 10))
        x, y = rng.randrange(w), rng.randrange(h)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=lighten(rng.choice(palette), 0.3) + (rng.randint(30, 110),))


def draw_hills(draw, rng, size, colour):
    w, h = size
    layers = rng.randint(2, 3)
    for layer in range(layers):
        base = h * (0.55 + 0.13 * layer)
        amplitude = h * 0.08
        step = max(w // rng.randint(4, 9), 2)
        ridge = [(x, base + rng.uniform(-amplitude, amplitude)) for x in range(0, w + step, step)]
        shade = darken(colour, 0.75 - 0.22 * layer)
        draw.polygon([(0, h), *ridge, (w, h)], fill=shade + (255,))


def lighten(colour, amount):
    return tuple(round(c + (255 - c) * amount) for c in colour)


def darken(colour, factor):
    return tuple(round(c * factor) for c in colour)


def jpeg_bytes(image):
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_video(still, rng, fps=15):
    """(poster frame, MP4 bytes): a slow zoom into the still, H.264, VIDEO_SECONDS long."""
    w, h = still.size
    scale = 640 / max(w, h)
    size = (round(w * scale / 2) * 2, round(h * scale / 2) * 2)  # yuv420p needs even sizes
    poster = still.resize(size, Image.Resampling.BILINEAR)
    # Frames are cut from a copy a little larger than the video: resampling the
    # full still for every frame would cost more than encoding the whole clip.
    source = still.resize((size[0] * 5 // 4, size[1] * 5 // 4), Image.Resampling.BILINEAR)
    zoom = rng.uniform(0.08, 0.18)
    frames = VIDEO_SECONDS * fps
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        # One thread: the pool already runs a job per core, and it keeps x264 deterministic.
        options = {"preset": "veryfast", "crf": "28", "threads": "1"}
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for n in range(frames):
            image = poster if n == 0 else zoom_frame(source, size, zoom * n / frames)
            frame = av.VideoFrame.from_image(image)
            frame.pts, frame.time_base = n, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return poster, buf.getvalue()


def zoom_frame(source, size, zoom):
    w, h = source.size
    dx, dy = w * zoom / 2, h * zoom / 2
    return source.resize(size, Image.Resampling.BILINEAR, box=(dx, dy, w - dx, h - dy))


def slug(text):
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words)[:40].strip("-") or "image"


def now_to_the_hour():
    # Anchor dates to the hour, so the same --seed gives the same rows all hour.
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


# --- Rows ------------------------------------------------------------------------------------


class PromptBook:
    """Prompts and names drawn from the vocabulary, precomputed for speed."""

    def __init__(self, rng):
        self.rng = rng

    def prompt(self):
        choice = self.rng.choice
        return f"{choice(ADJECTIVES)} {choice(NOUNS)} {choice(SETTINGS)}, {choice(STYLES)}, {choice(LIGHTING)}"

    def prompts(self, count):
        return [self.prompt() for _ in range(count)]

    def name(self, n):
        r = self.rng
        return r.choice(NAME_TEMPLATES).format(
            subject=r.choice(SUBJECTS), product=r.choice(PRODUCTS), client=r.choice(CLIENTS),
            month=f"{r.choice(MONTHS)} {r.choice((2024, 2025))}", n=n,
        )  # fmt: skip

    def names(self, count):
        return [self.name(self.rng.randint(1, 40)) for _ in range(count)]


def picker(rng, weighted, resolution=1000):
    """A zero-argument function that returns an item with the given weights.

    A lookup table indexed by random() is several times faster than
    random.choices() for one item, and this runs millions of times.
    """
    total = sum(w for _, w in weighted)
    table = []
    for item, weight in weighted:
        table += [item] * round(resolution * weight / total)
    random_ = rng.random
    size = len(table)
    return lambda: table[int(random_() * size)]


def output_count_weights(mean):
    """1 + Binomial(11, p): counts from 1 to 12 whose mean is `mean`."""
    trials, p = MAX_OUTPUTS - 1, (mean - 1) / (MAX_OUTPUTS - 1)
    return [(1 + k, math.comb(trials, k) * p**k * (1 - p) ** (trials - k)) for k in range(trials + 1)]


class Clock:
    """Epoch seconds to 'YYYY-MM-DD HH:MM:SS+00:00', from lookup tables.

    Formatting a datetime costs microseconds and a million pipelines have a few
    million timestamps; two table lookups and a concatenation cost almost nothing.
    PostgreSQL's COPY parses these, and so does Django's DateTimeField for bulk_create.
    """

    def __init__(self, end):
        self.end = int(end.timestamp())
        start = (end - HISTORY).replace(hour=0)
        self.base = int(start.timestamp())
        days = (end - start).days + 2
        self.days = [(start + timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(days)]
        self.hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00:00" for s in range(86400)]

    def format(self, seconds):
        day, second = divmod(seconds - self.base, 86400)
        return self.days[day] + self.hms[second]

    def created_times(self, rng, count):
        # Sorted, so ids and creation times rise together as they would in real use.
        span = int(HISTORY.total_seconds())
        return sorted(self.end - rng.randrange(span) for _ in range(count))


PIPELINE_COLUMNS = (
    "id", "owner_id", "name", "status", "mode", "description", "is_favorite", "is_hidden", "model",
    "first_prompt", "search_text", "total_cost", "created_at", "updated_at", "step_count", "output_count",
)  # fmt: skip
STEP_COLUMNS = (
    "id", "owner_id", "pipeline_id", "kind", "order", "config", "inputs", "status", "progress",
    "cost_estimate", "cost_actual", "error", "attempts", "started_at", "heartbeat_at", "finished_at",
)  # fmt: skip
OUTPUT_COLUMNS = ("id", "owner_id", "pipeline_id", "step_id", "asset_id", "position")
PIPELINETAG_COLUMNS = ("id", "pipeline_id", "tag_id")
# Written in this order, each chunk in one transaction (foreign keys are checked at its end):
# a pipeline's row carries its counts of steps and outputs, so it comes after them, when the
# triggers that count them (jobs migration 0019) find no pipeline to add to, and before its
# tags, whose trigger fills its tag names. Counted by those triggers instead, every pipeline
# row would be written three times.
TABLES = (
    (Step, STEP_COLUMNS, "steps"),
    (Output, OUTPUT_COLUMNS, "outputs"),
    (Pipeline, PIPELINE_COLUMNS, "pipelines"),
    (PipelineTag, PIPELINETAG_COLUMNS, "tags"),
)
# Most ids a single pipeline can use per table, to reserve id ranges up front.
ROWS_PER_PIPELINE = {"pipelines": 1, "steps": MAX_STEPS, "outputs": MAX_OUTPUTS, "tags": MAX_TAGS}


def step_plans():
    """{(pipeline status, step count, stop index): ((step status, ran), ...)}: steps that agree.

    The stop index is the step where the pipeline stopped: the one that failed,
    was cancelled, is running or awaits review. Steps before it completed, steps
    after it never started (`ran` is False).
    """
    # Never "pending" after the stop: nothing in the engine moves such a step on, so a demo pipeline in progress
    # stayed pending for ever once `make run` ran the rest. What follows a running step is queued (the dispatcher
    # sends it), what follows a step under review awaits the same approval, and what follows a failure never ran.
    after = {"failed": "cancelled", "cancelled": "cancelled", "running": "queued", "paused": "review"}
    at = {"failed": "failed", "cancelled": "cancelled", "running": "running", "paused": "review"}
    plans = {}
    for count in range(1, MAX_STEPS + 1):
        for stop in range(count):
            plans["completed", count, stop] = (("completed", True),) * count
            plans["pending", count, stop] = (("queued", False),) * count
            for status in at:
                done, rest = (("completed", True),) * stop, ((after[status], False),) * (count - stop - 1)
                plans[status, count, stop] = (*done, (at[status], True), *rest)
    return plans


class RowFactory:
    """Generates the rows of pipelines and everything that hangs off them.

    Rows are tuples in the column order above, with values COPY takes as they
    are (strings for timestamps, decimals and JSON). Choices are drawn through
    lookup tables and text comes from precomputed pools, because this loop is
    what limits the speed of a million-pipeline seed.
    """

    def __init__(self, owner_id, pool, tag_ids, seed, mean_outputs):
        self.owner_id = owner_id
        self.pool = pool
        self.tag_ids = tag_ids
        self.rng = rng = random.Random(f"rows:{seed}")
        self.clock = Clock(now_to_the_hour())
        book = PromptBook(rng)
        self.prompts = book.prompts(4000)
        self.prompt_json = [json.dumps(p) for p in self.prompts]
        self.motion_json = {m: json.dumps(m) for m in MOTIONS}
        self.names = book.names(20000)
        self.pick_status = picker(rng, PIPELINE_STATUSES)
        self.pick_mode = picker(rng, MODES)
        self.pick_pattern = picker(rng, STEP_PATTERNS)
        self.pick_prompt_count = picker(rng, PROMPT_COUNTS)
        self.pick_tag_count = picker(rng, TAG_COUNTS)
        self.pick_output_count = picker(rng, output_count_weights(mean_outputs))
        self.models = ModelChooser(rng)
        self.plans = step_plans()

    def start_ids_after(self, last_ids):
        """New rows take ids after these, one counter per table."""
        self.ids = dict(last_ids)

    def chunk(self, created_times):
        """(pipelines, steps, outputs, pipeline tags) rows for these creation times."""
        self.rows = {"pipelines": [], "steps": [], "outputs": [], "tags": []}
        for created in created_times:
            self.pipeline(created)
        return self.rows

    def take_id(self, table):
        self.ids[table] += 1
        return self.ids[table]

    def pipeline(self, created):
        rng = self.rng
        pid = self.take_id("pipelines")
        status = self.pick_status()
        kinds = self.pick_pattern()
        prompt_ids = [rng.randrange(len(self.prompts)) for _ in range(self.pick_prompt_count())]
        motion = rng.choice(MOTIONS) if "i2v" in kinds else None
        plan = self.plans[status, len(kinds), rng.randrange(len(kinds))]
        outputs_before = len(self.rows["outputs"])
        steps = self.steps(pid, created, kinds, plan, prompt_ids, motion, status in ACTIVE)
        name = self.names[rng.randrange(len(self.names))]
        prompts = [self.prompts[i] for i in prompt_ids] if kinds != ("i2v",) else []
        if motion:
            prompts.append(motion)
        total = sum(s.actual for s in steps)
        updated = max([created] + [s.last_time for s in steps])
        # The pipeline's model is its main generation model: a prompt_enhance step has none.
        model = next(s.model for s in steps if s.model)
        self.rows["pipelines"].append((
            pid, self.owner_id, name, status, "checkpoint" if status == "paused" else self.pick_mode(),
            rng.choice(DESCRIPTIONS) if rng.random() < 0.3 else "", rng.random() < 0.08, rng.random() < 0.05,
            model, prompts[0], " ".join([name, *prompts]).lower(), f"{total:.4f}",
            self.clock.format(created), self.clock.format(updated), len(steps), len(self.rows["outputs"]) - outputs_before,
        ))  # fmt: skip
        for tag_id in rng.sample(self.tag_ids, self.pick_tag_count()):
            self.rows["tags"].append((self.take_id("tags"), pid, tag_id))

    def steps(self, pid, created, kinds, plan, prompt_ids, motion, active):
        """Step rows, then output rows; returns the steps' summaries for the pipeline row."""
        rng = self.rng
        models = {"i2i": self.models.pick("i2i", active), "prompt_enhance": ""}
        if motion:
            models["i2v"] = self.models.pick("i2v", active)
        produced = self.allocate_outputs(kinds, plan)
        clock = self.clock
        t = created + rng.randint(2, 40)
        position = 0
        summaries = []
        for order, (kind, (status, ran)) in enumerate(zip(kinds, plan)):
            model, made = models[kind], produced[order]
            times = StepTimes.draw(rng, kind, status, ran, t, clock.end)
            t = times.next_start
            price = self.models.prices.get(model, 0.0)
            planned = made if status in ("completed", "review") else made + rng.randint(1, 8)
            sid = self.take_id("steps")
            summaries.append(StepSummary(model, made * price, times.last or created))
            self.rows["steps"].append((
                sid, self.owner_id, pid, kind, order,
                self.config(kind, model, prompt_ids, motion, rng), self.inputs(order, rng), status,
                progress(status, made, planned, rng), f"{planned * price:.4f}", f"{made * price:.4f}",
                rng.choice(ERRORS) if status == "failed" else "", attempts(status, ran, rng),
                fmt(clock, times.started), fmt(clock, times.heartbeat), fmt(clock, times.finished),
            ))  # fmt: skip
            self.outputs(pid, sid, kind, made, position)
            position += made
        return summaries

    def allocate_outputs(self, kinds, plan):
        """How many outputs each step made: the pipeline's outputs spread over the
        generation steps that ran (a failed or cancelled one may have made some)."""
        ran = [i for i, (kind, (_, started)) in enumerate(zip(kinds, plan)) if started and kind != "prompt_enhance"]
        counts = [0] * len(plan)
        if not ran:
            return counts
        total = self.pick_output_count()
        # One each first, in order, so a step that ran shows something; the rest at random.
        for i in ran[:total]:
            counts[i] = 1
        choice = self.rng.choice
        for _ in range(total - len(ran)):
            counts[choice(ran)] += 1
        return counts

    def outputs(self, pid, sid, kind, made, position):
        randrange = self.rng.randrange
        assets = self.pool.videos if kind == "i2v" and self.pool.videos else self.pool.images
        append, owner_id = self.rows["outputs"].append, self.owner_id
        for offset in range(made):
            append((self.take_id("outputs"), owner_id, pid, sid, assets[randrange(len(assets))], position + offset))

    def config(self, kind, model, prompt_ids, motion, rng):
        # Built as text from pre-escaped prompts: json.dumps of a dict per step is a
        # large share of the time at a million pipelines.
        if kind == "prompt_enhance":
            prompts = ", ".join(self.prompt_json[i] for i in prompt_ids)
            return f'{{"prompt": {self.prompt_json[prompt_ids[0]]}, "prompts": [{prompts}], "style": "detailed"}}'
        # The settings a step of the New pipeline form's defaults runs with (jobs/forms.py), and
        # which the catalog prices (Models.prices): a video step's are a video's, not an image's.
        seed = rng.randrange(2**31)
        if kind == "i2v":
            return (
                f'{{"model": "{model}", "negative_prompt": "", "videos_per_image": 1, {VIDEO_SETTINGS}, '
                f'"prompt": {self.motion_json[motion]}, "seed": {seed}}}'
            )
        return (
            f'{{"model": "{model}", "negative_prompt": "", "images_per_prompt": {rng.randint(1, 4)}, '
            f'"aspect_ratio": "{rng.choice(list(ASPECTS))}", "quality": "standard", '
            f'"prompt": {self.prompt_json[prompt_ids[0]]}, "seed": {seed}}}'
        )

    def inputs(self, order, rng):
        # One source image per step, the executor's shape (jobs/tasks.py): a demo
        # step left running is re-queued by the sweeper and really runs.
        images = self.pool.images
        return f'{{"asset_id": {images[rng.randrange(len(images))]}}}'


@dataclass
class StepSummary:
    model: str
    actual: float
    last_time: int


@dataclass
class StepTimes:
    started: int | None
    heartbeat: int | None
    finished: int | None
    last: int | None
    next_start: int

    @classmethod
    def draw(cls, rng, kind, status, ran, start, end):
        if not ran:
            return cls(None, None, None, None, start)
        duration = rng.randint(60, 1200) if kind == "i2v" else rng.randint(15, 400)
        start = min(start, end)
        if status == "running":
            beat = min(start + duration // 2, end)
            return cls(start, beat, None, beat, start)
        finished = min(start + duration, end)
        return cls(start, finished, finished, finished, finished + rng.randint(1, 20))


def fmt(clock, seconds):
    return None if seconds is None else clock.format(seconds)


def progress(status, made, planned, rng):
    if status in ("completed", "review"):
        return 100
    if status == "running":
        return rng.randint(5, 95)
    return 100 * made // planned if planned else 0


def attempts(status, ran, rng):
    if not ran:
        return 0
    if status == "failed":
        return rng.randint(1, 3)
    return 2 if rng.random() < 0.05 else 1


class ModelChooser:
    """Generation models from settings, weighted: hosted models do most of the work.

    Pipelines still pending, running or paused use the free local models, so a
    worker that resumes them never spends money on demo data.
    """

    def __init__(self, rng):
        models = settings.GENERATION_MODELS
        self.pickers, self.local, self.prices = {}, {}, {}
        for kind in ("i2i", "i2v"):
            ids = [m for m, spec in models.items() if spec.get("kind") == kind]
            if not ids:
                raise CommandError(f"settings.GENERATION_MODELS has no {kind} model.")
            weighted = [(m, 15 if models[m].get("provider") == "local" else 100) for m in ids]
            self.pickers[kind] = picker(rng, weighted)
            self.local[kind] = next((m for m in ids if models[m].get("provider") == "local"), None)
        for model in models:
            # What the catalog bills for one request of a demo step's settings (config()): an image
            # of standard quality, or a 5 s clip at 720p (the nearest the model makes of those).
            self.prices[model] = float(bill(model, DEMO_SETTINGS).total)

    def pick(self, kind, active):
        if active and self.local[kind]:
            return self.local[kind]
        return self.pickers[kind]()


# --- Writing ---------------------------------------------------------------------------------


def write_all(rows, count, quiet):
    """Generate and write `count` pipelines in chunks; the number of rows per table."""
    writer = CopyWriter() if connection.vendor == "postgresql" else OrmWriter()
    rows.start_ids_after(writer.reserve_ids({t: n * count for t, n in ROWS_PER_PIPELINE.items()}))
    created = rows.clock.created_times(rows.rng, count)
    slices = [created[start : start + writer.chunk] for start in range(0, count, writer.chunk)]
    totals = dict.fromkeys(ROWS_PER_PIPELINE, 0)
    bar = tqdm(total=count, desc="pipelines", unit="pipeline", file=sys.stderr, disable=quiet)
    # The next chunk is generated in a thread while this one is written: the
    # database works through a COPY mostly while we wait on the socket with the
    # GIL released, so generating and loading overlap instead of taking turns.
    with bar, ThreadPoolExecutor(max_workers=1) as ahead:
        upcoming = ahead.submit(rows.chunk, slices[0]) if slices else None
        for i in range(len(slices)):
            chunk = upcoming.result()
            if i + 1 < len(slices):
                upcoming = ahead.submit(rows.chunk, slices[i + 1])
            with transaction.atomic():
                writer.start_chunk()
                for model, columns, key in TABLES:
                    writer.write(model, columns, chunk[key])
                    totals[key] += len(chunk[key])
                writer.end_chunk()
            bar.update(len(chunk["pipelines"]))
    writer.finish()
    return totals


class CopyWriter:
    """PostgreSQL: COPY FROM STDIN through psycopg 3, with ids chosen here."""

    chunk = COPY_CHUNK
    skip_fk_checks = None  # unknown until the first chunk tries

    def start_chunk(self):
        """Per transaction settings. Called first thing in each chunk's transaction."""
        with connection.cursor() as cursor:
            # The seed is rebuildable data: don't wait for the WAL flush at each commit.
            cursor.execute("SET LOCAL synchronous_commit = off")
        if self.skip_fk_checks is not False:
            self.skip_fk_checks = self.try_skipping_fk_checks()

    def try_skipping_fk_checks(self):
        """Turn off foreign-key triggers for this transaction, if we may.

        Checking five million outputs' four foreign keys one row at a time at
        commit is over a third of the load time, and every id here was just made or
        read by this command. Like pg_restore --disable-triggers, this needs a
        superuser; anyone else keeps the checks (a savepoint absorbs the refusal).
        """
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:
            return False
        return True

    def end_chunk(self):
        # SET LOCAL lasts until the outermost transaction ends: when the seed runs
        # inside one (a test, a caller's atomic block), the rows after ours must be checked.
        if self.skip_fk_checks:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")

    def reserve_ids(self, counts):
        """{table key: the id before the first one we may use}, for each table.

        Moving each sequence past the range first means rows the running app
        inserts meanwhile get ids above ours instead of colliding with them. The
        range is sized for the most rows a pipeline can have, so the ids left
        unused become a gap, which costs nothing.
        """
        first = {}
        with connection.cursor() as cursor:
            for model, _, key in TABLES:
                table = model._meta.db_table
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
                sequence = cursor.fetchone()[0]
                cursor.execute(
                    f"SELECT GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), "
                    f"(SELECT last_value FROM {sequence}))"
                )
                first[key] = cursor.fetchone()[0]
                cursor.execute("SELECT setval(%s, %s)", [sequence, first[key] + max(counts[key], 1)])
        return first

    def write(self, model, columns, rows):
        if not rows:
            return
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {model._meta.db_table} ({quoted}) FROM STDIN") as copy:
                write_row = copy.write_row
                for row in rows:
                    write_row(row)

    def finish(self):
        # Fresh statistics, or the planner guesses at a million rows as if the tables were empty.
        models = [model for model, _, _ in TABLES] + [Tag, Asset]
        tables = ", ".join(model._meta.db_table for model in models)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {tables}")


class OrmWriter:
    """SQLite and anything else: bulk_create, with the same ids and values."""

    chunk = ORM_CHUNK
    JSON_COLUMNS = {"config", "inputs"}

    def start_chunk(self):
        pass

    def end_chunk(self):
        pass

    def reserve_ids(self, counts):
        # SQLite is the single-user embedded default: the current largest ids will do.
        return {key: model.objects.aggregate(last=Max("id"))["last"] or 0 for model, _, key in TABLES}

    def write(self, model, columns, rows):
        json_at = [i for i, c in enumerate(columns) if c in self.JSON_COLUMNS]
        objects = []
        for row in rows:
            values = dict(zip(columns, row))
            for i in json_at:
                values[columns[i]] = json.loads(row[i])
            objects.append(model(**values))
        model.objects.bulk_create(objects, batch_size=500)

    def finish(self):
        pass
