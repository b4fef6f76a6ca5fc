"""What the viewer tells about one asset: the file, and for a generated one the
output that made it (its step's prompt, model, seed, settings and cost, its
pipeline, and the source it was made from).

Three queries at most, whatever the asset: the asset, its output with step and
pipeline (generated assets only), its source. A new section of the panel is a
property here and a block in viewer/asset.html#details.
"""

import functools
from dataclasses import dataclass

from django.http import Http404
from django.shortcuts import get_object_or_404

from i2v.lib.ids import is_plausible_id
from jobs.models import Output, Step
from library.models import Asset

ASSET_FIELDS = (*Asset.LIST_FIELDS, "prompt", "bytes", "remote_url")
OUTPUT_FIELDS = (
    "id", "owner_id", "asset_id", "pipeline__id", "pipeline__name",
    "step__id", "step__kind", "step__order", "step__config", "step__inputs", "step__status",
    "step__cost_actual", "step__cost_estimate", "step__cost_reported",
)  # fmt: skip
# Step config keys shown on lines of their own (the step's prompt stands for a stage's list of them),
# not among the other settings.
OWN_LINES = {"prompt", "prompts", "model", "seed"}
UNITS = {"duration": "s"}  # a video's length in seconds, as New pipeline asks for it


def _shown(name, value):
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return f"{value} {UNITS[name]}" if name in UNITS else value


@dataclass
class Details:
    asset: Asset
    output: Output | None = None
    source: Asset | None = None

    @classmethod
    def load(cls, owner, asset_id, output_id=None):
        """The details of `owner`'s asset; someone else's asset or output is a 404.

        `output_id` says which output the viewer was opened on (the same bytes may be
        the output of several pipelines); without it, the newest one that made the asset.
        """
        if not is_plausible_id(asset_id):
            raise Http404("No such asset.")  # past a bigint: PostgreSQL would refuse the query
        asset = get_object_or_404(owner.assets.only(*ASSET_FIELDS), pk=asset_id)
        output = None
        if output_id is not None or asset.source == Asset.Source.GENERATED:
            outputs = Output.objects.filter(owner_id=owner.id, asset_id=asset.id).select_related("step", "pipeline")
            if output_id is not None:
                outputs = outputs.filter(pk=output_id)
            output = outputs.only(*OUTPUT_FIELDS).order_by("-id").first()
            if output is None and output_id is not None:
                raise Http404("No such output.")
        details = cls(asset, output)
        if details.source_id is not None:
            details.source = owner.assets.only(*Asset.LIST_FIELDS).filter(pk=details.source_id).first()
        return details

    @property
    def step(self) -> Step | None:
        return self.output.step if self.output else None

    @property
    def prompt(self):
        """What made it: its step's prompt, or the one written inside an uploaded file (copied, shown once)."""
        if self.step:
            return self.step.prompt
        # An upload's prompt is copied from its file when it is processed, cut to PROMPT_MAX_CHARS
        # (Asset.prompt_in_file()): the file's whole prompt is the one shown and copied.
        embedded = (self.embedded or {}).get("prompt") or ""
        return embedded if embedded.startswith(self.asset.prompt) else self.asset.prompt

    @property
    def seed(self):
        return self.step.config.get("seed") if self.step else None

    @property
    def settings(self):
        """(name, value) of the step's other settings, as the New pipeline form names them."""
        if not self.step:
            return []
        config = self.step.config if isinstance(self.step.config, dict) else {}
        return [(k.replace("_", " "), _shown(k, v)) for k, v in config.items() if k not in OWN_LINES and v not in ("", None)]

    @functools.cached_property
    def embedded(self):
        """The generation parameters written inside an upload's file (A1111's `parameters`
        text or XMP, library/parameters.py), read from its header; a generated asset's
        come from its step instead. Read once per panel (its "In the file" line and its
        "Recall settings" button ask the same), never for a Library tile."""
        if self.step or self.asset.kind != Asset.Kind.IMAGE or not self.asset.original:
            return None
        return self.asset.read_parameters()

    @property
    def source_id(self):
        inputs = self.step.inputs if self.step else None
        value = inputs.get("asset_id") if isinstance(inputs, dict) else None
        return value if isinstance(value, int) else None

    @property
    def can_be_source(self):
        """Whether New pipeline would take it as a source (AssetQuerySet.usable_as_sources())."""
        a = self.asset
        return a.kind == Asset.Kind.IMAGE and bool(a.original) and a.processing_status != Asset.Status.FAILED

    @property
    def query(self):
        """The query string that keeps the output in view across the panel's actions."""
        return f"?output={self.output.id}" if self.output else ""

