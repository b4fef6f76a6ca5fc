"""Importing an i2v database: batches of source rows -> pipelines, steps, outputs and assets.

The source is read in id order, `batch_size` rows at a time. Each batch:

1. drops the rows an ImportRecord says were imported already (a second run, a
   resumed one);
2. plans the rest (imports/mapping.py); a bad row is reported and skipped;
3. resolves the files the plans name (imports/files.py), storing them by
   content before any row is written;
4. writes everything in one transaction: assets (deduplicated by sha256 per
   owner, like uploads and generated outputs), pipelines, steps, outputs, tags,
   the ImportRecords, and the assets' processing jobs at backfill priority
   (renditions, or the fetch of a remote original).

A crash at any moment loses at most the batch in flight: its transaction rolls
back, its files stay under their content address, and the next run redoes it.
If the database refuses a batch (a value it can't store), the batch is written
again record by record, so only the culprit fails.
"""

import os
import signal
import sys
from dataclasses import dataclass

from django.db import DataError, IntegrityError, transaction
from tqdm import tqdm

from i2v.lib.cache import bump_on_commit
from jobs.models import Output, Pipeline, PipelineTag, Step, Tag
from library.models import Asset
from media_processing.models import ProcessingJob

from . import mapping
from .files import Found, Remote
from .models import ImportRecord, ImportSource


@dataclass(frozen=True)
class Unit:
    """A kind of i2v record that becomes one pipeline, with the table of its parts."""

    table: str
    plan: object  # (row, parts, include_unfinished) -> PipelinePlan
    parts: tuple = ()  # (table, parent column, order column)


UNITS = (
    Unit("pipelines", mapping.plan_pipeline, ("pipeline_steps", "pipeline_id", "step_order")),
    Unit("jobs", lambda row, parts, unfinished: mapping.plan_job(row, unfinished)),
    Unit("image_jobs", lambda row, parts, unfinished: mapping.plan_image_job(row, unfinished)),
    Unit("batch_jobs", mapping.plan_batch, ("batch_job_items", "batch_job_id", "item_index")),
)


class Importer:
    def __init__(self, source, owner, files, report, batch_size=500, include_unfinished=False, dry_run=False, progress=True):
        self.source = source
        self.owner = owner
        self.files = files
        self.report = report
        self.batch_size = batch_size
        self.include_unfinished = include_unfinished
        self.dry_run = dry_run
        self.progress = progress
        self.tag_ids = {}
        self.batches = 0

    def run(self):
        landmarks = self.source.landmarks()
        self.record_source = ImportSource.objects.recognise(self.owner, landmarks, self.source.label, create=not self.dry_run)
        units = [unit for unit in UNITS if self.source.has(unit.table)]
        total = sum(self.source.count(unit.table) for unit in units)
        with tqdm(total=total, unit="row", file=sys.stderr, disable=not self.progress, dynamic_ncols=True) as bar:
            for unit in units:
                after = 0
                while rows := self.source.rows(unit.table, after, self.batch_size):
                    after = rows[-1]["id"]
                    self.import_batch(unit, rows)
                    bar.update(len(rows))
        return self.report

    def import_batch(self, unit, rows):
        done = ImportRecord.objects.imported_ids(self.record_source, unit.table, [row["id"] for row in rows])
        self.report.already(len(done))
        todo = [row for row in rows if row["id"] not in done]
        parts = self.source.children(*unit.parts[:2], [row["id"] for row in todo], unit.parts[2]) if unit.parts else {}
        plans = [plan for row in todo if (plan := self.plan(unit, row, parts.get(row["id"], [])))]
        if not plans:
            return
        resolved = self.files.resolve([ref.candidates for plan in plans for ref in plan.outputs])
        for plan in plans:
            self.drop_failed_outputs(plan, resolved)
        if self.dry_run:
            self.count_dry_run(plans, resolved)
        else:
            self.write(plans, resolved)

    def plan(self, unit, row, parts):
        try:
            plan = unit.plan(row, parts, self.include_unfinished)
        except mapping.Unfinished as exc:
            self.report.skipped(unit.table, row["id"], str(exc))
        except mapping.BadRow as exc:
            self.report.failed(unit.table, row["id"], str(exc))
        else:
            for note in plan.notes:
                self.report.note(unit.table, row["id"], note)
            return plan
        return None

    def drop_failed_outputs(self, plan, resolved):
        for step in plan.steps:
            kept = []
            for ref in step.outputs:
                outcome = resolved[ref.candidates]
                if isinstance(outcome, (Found, Remote)):
                    kept.append(ref)
                else:
                    self.report.file_failed(plan.table, plan.source_id, outcome.reason)
            step.outputs = kept

    def count_dry_run(self, plans, resolved):
        self.report.imported(len(plans))
        for plan in plans:
            for ref in plan.outputs:
                self.report.file("remote" if isinstance(resolved[ref.candidates], Remote) else "stored")

    # --- writing ---------------------------------------------------------------------------

    def write(self, plans, resolved):
        try:
            with transaction.atomic():
                outcomes = Batch(self, plans, resolved).write()
                self.batches += 1
                _die_here_for_tests(self.batches)
        except (IntegrityError, DataError) as exc:  # about the rows; a lost connection is not, and stops the run
            self.tag_ids.clear()  # ids of tags made in the rolled-back transaction
            if len(plans) == 1:
                self.report.failed(plans[0].table, plans[0].source_id, f"the database refused it: {exc}".strip())
                return
            for plan in plans:  # find the culprit; the others go in one by one
                self.write([plan], resolved)
            return
        self.report.imported(len(plans))
        for outcome, n in outcomes.items():
            self.report.file(outcome, n)


class Batch:
    """The rows of one batch of plans, written together (inside the caller's transaction)."""

    def __init__(self, importer, plans, resolved):
        self.importer = importer
        self.owner_id = importer.owner.pk
        self.plans = plans
        self.resolved = resolved
        self.outcomes = {"stored": 0, "reused": 0, "remote": 0}

    def write(self):
        assets = self.assets()
        pipelines = self.pipelines()
        steps = Step.objects.bulk_create(
            Step(owner_id=self.owner_id, pipeline=pipeline, **step.fields)
            for plan, pipeline in zip(self.plans, pipelines)
            for step in plan.steps
        )
        self.outputs(pipelines, steps, assets)
        self.tags(pipelines)
        ImportRecord.objects.bulk_create(
            ImportRecord(source=self.importer.record_source, table=plan.table, row_id=plan.source_id, pipeline=pipeline)
            for plan, pipeline in zip(self.plans, pipelines)
        )
        new = [asset.pk for asset in assets.values() if asset.new]
        # Renditions for stored files, fetches for remote ones, after fresh uploads always. No
        # message now: the sweeper sends the jobs at its pace, so a huge import never floods the broker.
        ProcessingJob.objects.backfill(Asset.objects.filter(pk__in=new), send=False)
        # bulk_create sends no signals: the owner's cached lists are rebuilt from here.
        bump_on_commit("jobs", self.owner_id)
        bump_on_commit("library", self.owner_id)
        return self.outcomes

    def assets(self):
        """{key: Asset} for every output file of the batch: the owner's existing
        asset with the same bytes, or a new one (one per sha256, or per URL for a
        remote file); counts each output's outcome."""
        found = [r for r in self.resolved.values() if isinstance(r, Found)]
        existing = Asset.objects.filter(owner_id=self.owner_id, sha256__in={r.stored.sha256 for r in found})
        assets = {asset.sha256: asset for asset in existing.only("id", "sha256")}
        for asset in assets.values():
            asset.new = False
        for plan in self.plans:
            for ref in plan.outputs:
                outcome = self.resolved[ref.candidates]
                key = _key(outcome)
                if key in assets:
                    self.outcomes["remote" if isinstance(outcome, Remote) else "reused"] += 1
                    continue
                assets[key] = _new_asset(self.owner_id, outcome, ref)
                self.outcomes["remote" if isinstance(outcome, Remote) else "stored"] += 1
        Asset.objects.bulk_create([asset for asset in assets.values() if asset.new])
        return assets

    def pipelines(self):
        pipelines = []
        for plan in self.plans:
            pipeline = Pipeline(owner_id=self.owner_id, **plan.fields)
            pipeline.set_search_text(plan.prompts)
            pipelines.append(pipeline)
        Pipeline.objects.bulk_create(pipelines)
        # bulk_create stamped updated_at with now (auto_now); i2v's own date goes back in.
        for pipeline, plan in zip(pipelines, self.plans):
            pipeline.updated_at = plan.fields["updated_at"]
        Pipeline.objects.bulk_update(pipelines, ["updated_at"])
        return pipelines

    def outputs(self, pipelines, steps, assets):
        made, step_rows = [], iter(steps)
        for plan, pipeline in zip(self.plans, pipelines):
            position = 0
            for step_plan in plan.steps:
                step = next(step_rows)
                for ref in step_plan.outputs:
                    asset = assets[_key(self.resolved[ref.candidates])]
                    made.append(Output(owner_id=self.owner_id, step=step, pipeline=pipeline, asset=asset, position=position))
                    position += 1
        Output.objects.bulk_create(made)

    def tags(self, pipelines):
        wanted = {name for plan in self.plans for name in plan.tags}
        ids = self.importer.tag_ids
        missing = wanted - ids.keys()
        if missing:
            Tag.objects.bulk_create(
                [Tag(owner_id=self.owner_id, name=name, colour=Tag.colour_for(name)) for name in sorted(missing)],
                ignore_conflicts=True,
            )
            ids.update(Tag.objects.filter(owner_id=self.owner_id, name__in=missing).values_list("name", "id"))
        PipelineTag.objects.bulk_create(
            PipelineTag(pipeline=pipeline, tag_id=ids[name])
            for plan, pipeline in zip(self.plans, pipelines)
            for name in plan.tags
        )


def _key(outcome):
    return outcome.stored.sha256 if isinstance(outcome, Found) else f"url:{outcome.url}"


def _new_asset(owner_id, outcome, ref):
    common = {"owner_id": owner_id, "source": Asset.Source.GENERATED, "prompt": ref.prompt, "created_at": ref.created_at}
    if isinstance(outcome, Remote):
        asset = Asset(
            **common, kind=ref.kind, filename=outcome.filename, remote_url=outcome.url,
            processing_status=Asset.Status.REMOTE,
        )  # fmt: skip
    else:
        stored, probe = outcome.stored, outcome.stored.probe
        asset = Asset(
            **common, kind=probe.kind, original=stored.name, filename=outcome.filename, sha256=stored.sha256,
            mime=probe.mime, bytes=stored.size, width=probe.width, height=probe.height, duration=probe.duration,
            remote_url=outcome.remote_url,
        )  # fmt: skip
    asset.new = True
    return asset


def _die_here_for_tests(batch_number):
    """Kill this process with SIGKILL inside the transaction of batch N, after
    every row of it was written and before the commit: the worst moment.

    Only tests set I2V_TEST_IMPORT_KILL_AT_BATCH (test_import_i2v.py, in the
    environment of the import it starts); unset, this does nothing.
    """
    if os.environ.get("I2V_TEST_IMPORT_KILL_AT_BATCH") == str(batch_number):
        os.kill(os.getpid(), signal.SIGKILL)
