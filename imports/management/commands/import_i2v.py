import datetime
from contextlib import ExitStack
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from imports.files import Files
from imports.importer import Importer
from imports.report import Report
from imports.source import SourceError, open_source


class Command(BaseCommand):
    help = (
        "Import an i2v database (its pipelines, jobs and batches) and the files it names, for one user. "
        "Idempotent and resumable: run it again and only what is new comes in. See docs/operations.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("database_url", help="sqlite:///path/to/wan_jobs.db, a path to it, or postgresql://...")
        parser.add_argument("--owner", required=True, help="username that will own everything imported")
        parser.add_argument("--files-from", help="i2v's folder: where the local paths it recorded are looked up")
        parser.add_argument(
            "--fetch-remote", action="store_true",
            help="download remote outputs now (default: keep them as remote and fetch them in the background)",
        )  # fmt: skip
        parser.add_argument("--dry-run", action="store_true", help="read and check everything, write nothing")
        parser.add_argument(
            "--include-unfinished", action="store_true",
            help="also import what i2v has not finished (pending or running), as cancelled",
        )  # fmt: skip
        parser.add_argument("--batch", type=int, default=500, help="source rows per transaction (1 to 1000, default 500)")
        parser.add_argument(
            "--concurrency", type=int, default=settings.REMOTE_FETCH_CONCURRENCY,
            help="files copied or downloaded at once (default %(default)s)",
        )  # fmt: skip
        parser.add_argument("--log", help="file for the reasons of every skip and failure (default: under IMPORT_LOG_DIR)")

    def handle(self, *args, **options):
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"No user {options['owner']!r}: create the login first (manage.py createsuperuser).")
        if not 1 <= options["batch"] <= 1000:
            raise CommandError("--batch must be between 1 and 1000.")
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        if options["files_from"] and not Path(options["files_from"]).is_dir():
            raise CommandError(f"--files-from {options['files_from']} is not a folder.")
        with ExitStack() as stack:
            try:
                source = stack.enter_context(open_source(options["database_url"]))
            except SourceError as exc:
                raise CommandError(str(exc)) from None
            log_path = self.log_path(options)
            log = stack.enter_context(open(log_path, "a", encoding="utf-8")) if log_path else None
            report = Report(log=log, echo=self.stderr.write)
            if log:
                report.header(source.label, self.described(options))
            files = Files(owner.pk, options["files_from"], options["fetch_remote"], options["concurrency"], options["dry_run"])
            stack.callback(files.close)
            importer = Importer(
                source, owner, files, report, batch_size=options["batch"], include_unfinished=options["include_unfinished"],
                dry_run=options["dry_run"], progress=options["verbosity"] > 0,
            )  # fmt: skip
            try:
                importer.run()
            except (SourceError, DatabaseError) as exc:
                raise CommandError(f"{exc} (what was imported before this is kept; run again to go on)") from None
            summary = report.summary(dry_run=options["dry_run"], log_name=log_path)
            if log:
                log.write(f"# {summary}\n")
        return summary

    def log_path(self, options):
        """Where the reasons go: --log, or a new file per run (a dry run writes none unless asked)."""
        if options["log"]:
            return Path(options["log"])
        if options["dry_run"]:
            return None
        folder = Path(settings.IMPORT_LOG_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"import-i2v-{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M%S}.log"

    @staticmethod
    def described(options):
        keys = ("owner", "files_from", "fetch_remote", "dry_run", "include_unfinished", "batch")
        return ", ".join(f"{key}={options[key]}" for key in keys)
