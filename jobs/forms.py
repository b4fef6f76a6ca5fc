import random
import re
from decimal import Decimal
from typing import NamedTuple
from urllib.parse import urlencode

from django import forms
from django.forms.utils import pretty_name
from django.conf import settings
from django.utils.functional import cached_property

from i2v.lib.forms import ChoiceField, FlagField, IntegerField, QueryFlagField, SharedFieldsForm
from i2v.lib.ids import id_from_text, is_plausible_id
from i2v.lib.text import one_line, truncated
from i2v.lib.urls import url_of
from library.models import Asset
from prompts.models import PROMPT_MAX_CHARS, TemplateError, expand_for

from .catalog import bill, needs_confirmation
from .detail import step_filters
from .models import MAX_TAGS, TAG_NAME, Pipeline
from .providers import ASPECT_RATIOS, IMAGES_PER_PROMPT_MAX, QUALITIES, SEED_MAX, VIDEO_RESOLUTIONS, get_provider


class TagField(forms.CharField):
    """A tag name, lowercased before validation: "Client-X" means client-x."""

    def __init__(self, **kwargs):
        super().__init__(max_length=40, validators=[TAG_NAME], **kwargs)

    def to_python(self, value):
        return super().to_python(value).lower()


def _model_choices():
    return [("", "Any model")] + [(k, v["label"]) for k, v in settings.GENERATION_MODELS.items()]


class JobsFilterForm(SharedFieldsForm):
    """Filters, sort and page of the Jobs list; the page and the API share it.

    Every value is validated: a bad one is a 400 naming the field, never a 500
    and never silently ignored.
    """

    status = ChoiceField(choices=[("", "Any status"), *Pipeline.Status.choices], required=False)
    tag = TagField(required=False)
    favorites = QueryFlagField(label="Favourites", required=False)
    hidden = ChoiceField(
        choices=[("", "Not hidden"), ("include", "Include hidden"), ("only", "Only hidden")], required=False
    )
    q = forms.CharField(label="Search", required=False, max_length=200, strip=True)
    date_from = forms.DateField(label="From date", required=False)
    date_to = forms.DateField(label="To date", required=False)
    model = ChoiceField(choices=_model_choices, required=False)
    sort = ChoiceField(
        choices=[("newest", "Newest"), ("oldest", "Oldest"), ("name", "Name"), ("cost", "Cost")], required=False
    )
    cursor = forms.CharField(label="Page link", required=False, max_length=2000)
    page_size = forms.IntegerField(required=False, min_value=1, max_value=settings.PAGE_SIZE_MAX)

    FILTERS = ("status", "tag", "favorites", "hidden", "q", "date_from", "date_to", "model")

    def __init__(self, data, default_page_size):
        super().__init__(data)
        self.default_page_size = default_page_size

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    @property
    def filters(self):
        return {name: self.cleaned_data[name] for name in self.FILTERS}

    @property
    def ordering(self):
        return Pipeline.ORDERINGS[self.cleaned_data["sort"] or "newest"]

    @property
    def size(self):
        return self.cleaned_data["page_size"] or self.default_page_size

    @property
    def is_filtered(self):
        return any(self.filters.values())

    @property
    def active_filters(self):
        """How many filters the Jobs page's folded set holds (all but the search, which stays in view), by the
        values its controls show: a value refused is still one set. static/js/app.js counts the same controls."""
        return sum(bool(self[name].value()) for name in self.FILTERS if name != "q")

    def list_args(self):
        return {
            "filters": self.filters,
            "ordering": self.ordering,
            "cursor": self.cleaned_data["cursor"],
            "page_size": self.size,
        }

    def url(self, cursor=None):
        """This list's URL with only validated parameters, optionally at a cursor."""
        params = {k: v for k, v in self.cleaned_data.items() if v and k not in ("cursor", "favorites")}
        if self.cleaned_data["favorites"]:
            params["favorites"] = "1"
        if cursor:
            params["cursor"] = cursor
        query = urlencode(params)
        return url_of("jobs:page") + (f"?{query}" if query else "")


class TagForm(forms.Form):
    name = TagField(error_messages={"required": "Type a tag name."})


# An id as a bulk action or a pipeline's sources name one: a whole number in ASCII digits, whether or not
# a row could have it (id_from_text() says).
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def _any_id(text):
    """An id as a bulk action names one: a whole number in ASCII digits (int() reads "٣" as 3),
    one that no row can have (0, negative, past a bigint) made 0, which clean_ids() drops."""
    text = str(text)
    if not _WHOLE_NUMBER.fullmatch(text):
        raise ValueError(text)
    return id_from_text(text) or 0


class BulkActionForm(forms.Form):
    ACTIONS = {
        "delete": "Deleted",
        "favorite": "Favourited",
        "unfavorite": "Unfavourited",
        "hide": "Hid",
        "unhide": "Unhid",
        "tag": "Tagged",
    }
    action = ChoiceField(choices=[(a, a) for a in ACTIONS])
    ids = forms.TypedMultipleChoiceField(coerce=_any_id, required=True, error_messages={"required": "Select some pipelines first."})
    tag = TagField(required=False)

    def __init__(self, data):
        super().__init__(data)
        # Any integer is acceptable here; ownership is checked by the query, which
        # starts from request.user, so someone else's id simply matches nothing.
        self.fields["ids"].valid_value = lambda value: True

    def clean_ids(self):
        ids = self.cleaned_data["ids"]
        if len(ids) > settings.PAGE_SIZE_MAX:
            raise forms.ValidationError(f"Select at most {settings.PAGE_SIZE_MAX} pipelines at once.")
        # An id outside the key's range names no row (and SQLite can't even bind it).
        return [i for i in ids if is_plausible_id(i)]

    def clean(self):
        data = super().clean()
        if data.get("action") == "tag" and "tag" not in self.errors:
            if not data.get("tag"):
                self.add_error("tag", "Type the tag to add.")
        return data

    def first_error(self):
        return next(iter(self.errors.values()))[0]

    def summary(self, count, left=0):
        verb = self.ACTIONS[self.cleaned_data["action"]]
        noun = "pipeline" if count == 1 else "pipelines"
        extra = f" with “{self.cleaned_data['tag']}”" if self.cleaned_data["action"] == "tag" else ""
        if left:
            extra += f" ({left} left as {'it was' if left == 1 else 'they were'}: {MAX_TAGS} tags already)"
        return f"{verb} {count} {noun}{extra}."


class PageForm(SharedFieldsForm):
    """?cursor=&page_size= of any keyset list."""

    cursor = forms.CharField(required=False, max_length=2000)
    page_size = forms.IntegerField(required=False, min_value=1, max_value=settings.PAGE_SIZE_MAX)

    @property
    def size(self):
        return self.cleaned_data["page_size"] or settings.PAGE_SIZE_DEFAULT


class StepPageForm(PageForm):
    """?status=&cursor=&page_size= of a pipeline's steps (jobs/detail.py)."""

    status = ChoiceField(required=False, choices=step_filters)


def _stage_models(kind):
    """The models of a stage, each labelled with the setting it lacks where its provider has no key."""
    choices = []
    for model_id, spec in settings.GENERATION_MODELS.items():
        if spec.get("kind") == kind:
            missing = get_provider(model_id).missing_setting
            choices.append((model_id, f"{spec['label']} (set {missing} to use)" if missing else spec["label"]))
    return choices


class ListInput(forms.Widget):
    """A value given as a list (repeated form fields, a JSON array) or as one string."""

    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            return data.getlist(name)
        return data.get(name)


class ListField(forms.Field):
    """Items given as a list (repeated form fields, a JSON array) or as one string. A JSON array's
    items are text or whole numbers: a list, an object, a truth value or a fraction is refused, not
    made a prompt, a tag or a source of its repr; and no text holds a NUL, which PostgreSQL can't store."""

    widget = ListInput

    def to_python(self, value):
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and (isinstance(item, bool) or not isinstance(item, (str, int))):
                raise forms.ValidationError("Each item must be text or a whole number.", code="invalid")
            if isinstance(item, str) and "\x00" in item:
                raise forms.ValidationError("Null characters are not allowed.", code="null_characters_not_allowed")
        return value


class TextField(forms.CharField):
    """A CharField that takes text only: a JSON body's list, object, number or truth value for it is
    refused, not stored as its repr (an HTML form's values are always text)."""

    def to_python(self, value):
        if value is not None and not isinstance(value, str):
            raise forms.ValidationError("Must be text.", code="invalid")
        return super().to_python(value)


class NameField(TextField):
    """A pipeline's name: one line of plain characters (i2v/lib/text.one_line: no control or bidi-control
    characters, which could make a row show another name than it has)."""

    def to_python(self, value):
        value = super().to_python(value)
        # A NUL is refused by the field's validator, as in any text field, rather than taken out.
        return one_line(value) if value and "\x00" not in value else value


class RenameForm(forms.Form):
    name = NameField(max_length=200, strip=True)


class ConfirmCostForm(forms.Form):
    """The JSON body of an API action that spends (a retry, a rerun): above PIPELINE_CONFIRM_ABOVE_USD it
    needs "confirm_cost": true, as POST /api/pipelines does (NewPipelineForm)."""

    confirm_cost = FlagField(required=False)

    def confirmed(self, cost):
        return not needs_confirmation(cost) or self.cleaned_data["confirm_cost"]


def _items(value, separators):
    values = value if isinstance(value, (list, tuple)) else [value]
    items = []
    for v in values:
        if v is None:
            continue
        items += re.split(separators, str(v)) if separators else [str(v)]
    return [item.strip() for item in items if item.strip()]


class Preselection(NamedTuple):
    """Sources chosen before the New pipeline form is drawn (the Library's selection): their ids, at most a
    pipeline's sources, and how many items were not taken, not being ids (`unread`) or past that limit
    (`past_limit`), for the page to say so rather than drop them silently."""

    ids: list
    unread: int = 0
    past_limit: int = 0


def asset_ids(value):
    """The Preselection of "1,2,3" or of a list of ids."""
    read = [id_from_text(i) for i in _items(value, r"[,\s]+")]
    ids = list(dict.fromkeys(i for i in read if i))  # an id sent twice is one source
    limit = settings.PIPELINE_MAX_SOURCES
    return Preselection(ids[:limit], read.count(None), max(0, len(ids) - limit))


class NewPipelineForm(forms.Form):
    """The New pipeline page and POST /api/pipelines (same field names in JSON).

    cleaned_data is what Pipeline.objects.create_from_request() takes: sources and
    prompts as lists and each stage as a dict (None when off). `cost` is the
    estimate of whatever could be read, so the live estimate works on a half-filled form.
    """

    name = NameField(max_length=200, required=False, strip=True)
    tags = ListField(required=False)
    description = TextField(max_length=5000, required=False, widget=forms.Textarea)
    sources = ListField(required=False)
    # Before `prompts`, so its expansion is ready when the prompts are cleaned (prompts/expand.py).
    template = TextField(max_length=5000, required=False, strip=True, widget=forms.Textarea)
    prompts = ListField(required=False)
    enhance_prompts = FlagField(required=False)
    mode = ChoiceField(choices=[("auto", "Auto"), ("checkpoint", "Checkpoint: pause for review after a stage")], required=False)
    # Blank: one drawn for this pipeline, so the same prompt run again makes new pictures, not the ones paid for already.
    seed = IntegerField(min_value=0, max_value=SEED_MAX, required=False)
    i2i_enabled = FlagField(required=False)
    i2i_model = ChoiceField(choices=lambda: _stage_models("i2i"), required=False)
    images_per_prompt = IntegerField(min_value=1, max_value=IMAGES_PER_PROMPT_MAX, required=False)
    aspect_ratio = ChoiceField(choices=[(r, r) for r in ("auto", *ASPECT_RATIOS)], required=False)
    quality = ChoiceField(choices=[(q, q) for q in QUALITIES], required=False)
    i2i_negative_prompt = TextField(max_length=1000, required=False)
    i2v_enabled = FlagField(required=False)
    i2v_model = ChoiceField(choices=lambda: _stage_models("i2v"), required=False)
    videos_per_image = IntegerField(min_value=1, max_value=2, required=False)
    resolution = ChoiceField(choices=[(r, r) for r in VIDEO_RESOLUTIONS], required=False)
    duration = IntegerField(min_value=2, max_value=10, required=False)
    i2v_negative_prompt = TextField(max_length=1000, required=False)
    confirm_cost = FlagField(required=False)

    def __init__(self, data=None, *, owner, **kwargs):
        super().__init__(data, **kwargs)
        self.owner = owner
        self.cost = Decimal("0")
        self.outputs = 0
        self.breakdown = []  # one line per stage: what is billed, how many, at what price
        self.needs_confirmation = False
        self.expanded = []  # the prompts the template made
        self.limit_error = ""  # too many prompts or outputs: the live estimate says so at once

    def clean_tags(self):
        # Commas part tags, as the hint shows: "Spring 2027" is refused as one tag, the way a row's Tags
        # field refuses it, rather than turned into two tags the person didn't ask for.
        names = [n.lower() for n in _items(self.cleaned_data["tags"], r"[,\n]+")]
        refused = [name for name in names if not TAG_NAME.regex.fullmatch(name)]
        if refused:
            # Named, as typed (cut short), so the person sees which of several to change.
            quoted = ", ".join(f"“{truncated(name, 40)}”" for name in refused[:3]) + (", …" if len(refused) > 3 else "")
            what = "a tag" if len(refused) == 1 else "tags"
            raise forms.ValidationError(f"{quoted} can't be {what}: {TAG_NAME.message[0].lower()}{TAG_NAME.message[1:]}")
        if len(names) > MAX_TAGS:
            raise forms.ValidationError(f"At most {MAX_TAGS} tags.")
        return list(dict.fromkeys(names))

    def clean_sources(self):
        texts = list(dict.fromkeys(_items(self.cleaned_data["sources"], r"[,\s]+")))
        if not all(_WHOLE_NUMBER.fullmatch(text) for text in texts):
            raise forms.ValidationError("Sources are asset ids (whole numbers).")
        if not texts:
            raise forms.ValidationError("Choose at least one source image.")
        if len(texts) > settings.PIPELINE_MAX_SOURCES:
            raise forms.ValidationError(f"At most {settings.PIPELINE_MAX_SOURCES} sources per pipeline.")
        # A number that is no id (0, negative, past the column's range, a thousand digits) names no asset.
        named = {text: id_from_text(text) for text in texts}
        images = self.owner.assets.filter(pk__in=[i for i in named.values() if i], kind="image")
        mine = {pk: (original, status) for pk, original, status in images.values_list("pk", "original", "processing_status")}
        missing = [text[:20] for text, i in named.items() if i not in mine]
        if missing:
            raise forms.ValidationError(f"Not images in your library: {', '.join(missing[:10])}.")
        ids = list(dict.fromkeys(named.values()))
        remote = [str(i) for i in ids if not mine[i][0]]
        if remote:
            raise forms.ValidationError(
                f"Not fetched yet (imported from i2v as URLs): {', '.join(remote[:10])}. "
                "They can be sources once the Library shows them."
            )
        failed = [str(i) for i in ids if mine[i][1] == Asset.Status.FAILED]
        if failed:
            raise forms.ValidationError(
                f"Their processing failed, so no model can read them: {', '.join(failed[:10])}. "
                "Their tiles in the Library say why; retry or replace them there."
            )
        return ids

    def clean_template(self):
        text = self.cleaned_data["template"]
        if text:
            try:
                self.expanded = expand_for(self.owner, text)
            except TemplateError as exc:
                raise forms.ValidationError(str(exc)) from None
        return text

    def clean_prompts(self):
        typed = _items(self.cleaned_data["prompts"], r"\r?\n")  # a textarea, or a JSON list: a prompt is one line either way
        prompts = typed + self.expanded
        if not prompts:
            if "template" in self.errors:
                return []  # the template's own error says what is wrong
            raise forms.ValidationError("Write at least one prompt (one per line), or a template.")
        if len(prompts) > settings.PIPELINE_MAX_PROMPTS:
            self.limit_error = f"At most {settings.PIPELINE_MAX_PROMPTS} prompts (got {len(prompts)})."
            raise forms.ValidationError(self.limit_error)
        long = next((n for n, p in enumerate(prompts, 1) if len(p) > PROMPT_MAX_CHARS), None)
        if long:
            made = " (made by the template: a saved list's item may be too long)" if long > len(typed) else ""
            raise forms.ValidationError(f"Prompt {long} is {len(prompts[long - 1]):,} characters{made}; each may be at most {PROMPT_MAX_CHARS:,}.")
        return prompts

    def clean(self):
        data = super().clean()
        if data.get("seed") is None and "seed" not in self.errors:
            data["seed"] = random.randint(0, SEED_MAX)
        data["i2i"] = self._stage("i2i", images_per_prompt=1, aspect_ratio="auto", quality="standard")
        data["i2v"] = self._stage("i2v", videos_per_image=1, resolution="720p", duration=5)
        flags_read = not {"i2i_enabled", "i2v_enabled"} & self.errors.keys()  # a flag of the wrong kind says so itself
        if flags_read and not (data["i2i_enabled"] or data["i2v_enabled"]):
            self.add_error("i2i_enabled", "Turn on the image stage, the video stage or both.")
        data["mode"] = data.get("mode") or "auto"
        if data.get("enhance_prompts") and not settings.PROMPT_LLM_URL:
            self.add_error("enhance_prompts", "Prompt enhancement isn't set up on this server (PROMPT_LLM_URL).")
        prompts = data.get("prompts") or []
        data["name"] = data.get("name") or (prompts[0][:60] if prompts else "")
        self._estimate({"sources": data.get("sources") or [], "prompts": prompts, "i2i": data["i2i"], "i2v": data["i2v"]})
        if self.outputs > settings.PIPELINE_MAX_OUTPUTS:
            self.limit_error = f"This would make {self.outputs:,} outputs; a pipeline may make at most {settings.PIPELINE_MAX_OUTPUTS:,}."
            self.add_error("prompts", self.limit_error)
        elif not self.errors and self.over_threshold and not data.get("confirm_cost"):
            self.needs_confirmation = True
            self.add_error("confirm_cost", f"This pipeline is estimated at ${self.cost:.2f}; confirm to run it.")
        return data

    @cached_property
    def unavailable_models(self):
        """The models this server can't run (a provider without its key): the page offers them disabled."""
        return {model_id for model_id in settings.GENERATION_MODELS if get_provider(model_id).missing_setting}

    @cached_property
    def model_notes(self):
        """{field: why} for the stage models a page filled in from an earlier pipeline (recall) names that
        this server can't run: shown beside the model, which is offered disabled."""
        if self.is_bound:
            return {}  # a submitted form says so as the field's error
        chosen = {field: self.initial.get(field) for field in ("i2i_model", "i2v_model")}
        return {field: get_provider(model).no_key for field, model in chosen.items() if model in self.unavailable_models}

    @property
    def over_threshold(self):
        return needs_confirmation(self.cost)

    @property
    def prompt_count(self):
        return len(self.cleaned_data.get("prompts") or []) if hasattr(self, "cleaned_data") else 0

    def prompts_text(self):
        return "\n".join(_items(self["prompts"].value(), None))

    def tags_text(self):
        return ", ".join(_items(self["tags"].value(), None))

    def _stage(self, kind, **defaults):
        """The stage's settings as a step config, or None when it is off."""
        data = self.cleaned_data
        if not data.get(f"{kind}_enabled"):
            return None
        model = data.get(f"{kind}_model")
        if not model:
            if f"{kind}_model" not in self.errors:
                self.add_error(f"{kind}_model", "Choose a model for this stage.")
            return None
        provider = get_provider(model)
        if provider.missing_setting:
            # Each of its steps would fail before submission: refused here, before anything is planned.
            self.add_error(f"{kind}_model", provider.no_key)
        stage = {"model": model, "negative_prompt": data.get(f"{kind}_negative_prompt", ""), "seed": data.get("seed") or 0}
        for name, default in defaults.items():
            stage[name] = data.get(name) or default
        return stage

    # The settings the cost is made of: while one is refused, the estimate (made with its default) is none.
    PRICED = ("images_per_prompt", "quality", "videos_per_image", "resolution", "duration")

    @property
    def estimate_error(self):
        """The first refused setting the cost depends on, or the count's limit, as "Label: why" ("" when none is)."""
        field = next((name for name in self.PRICED if name in self.errors), None)
        if field:
            return f"{self.fields[field].label or pretty_name(field)}: {self.errors[field][0]}"
        return f"Prompts: {self.limit_error}" if self.limit_error else ""

    def _estimate(self, config):
        """Outputs and cost of the plan, from the catalog's bill(): what the providers will charge."""
        self.outputs = Pipeline.plan(config)
        self.cost = Pipeline.estimate(config)
        pairs = len(config["sources"]) * len(config["prompts"])
        images = pairs * config["i2i"]["images_per_prompt"] if config["i2i"] else 0
        counts = {"i2i": images, "i2v": (images if config["i2i"] else pairs) * (config["i2v"] or {}).get("videos_per_image", 1)}
        for kind in ("i2i", "i2v"):
            stage = config[kind]
            if stage and counts[kind]:
                price = bill(stage["model"], stage)
                self.breakdown.append({"model": stage["model"], "count": counts[kind], "bill": price, "total": price.total * counts[kind]})
