"""What an import did: counters for the one-line summary, and a log of every
skipped or failed record and file with its reason, written as it happens (an
import of a million rows keeps none of them in memory)."""

import datetime
from collections import Counter


class Report:
    def __init__(self, log=None, echo=None, echo_limit=50):
        """`log`: an open text file for the reasons, or None; `echo`: a function
        that shows the first `echo_limit` of them when there is no log (a dry run)."""
        self.log = log
        self.echo = echo
        self.echo_limit = echo_limit
        self.echoed = 0
        self.lines = 0
        self.counts = Counter()

    def write(self, line, counted=True):
        line = " ".join(line.split("\n"))  # one line per reason, whatever the database said
        self.lines += counted
        if self.log:
            self.log.write(line + "\n")
        elif self.echo and self.echoed < self.echo_limit:
            self.echo(line)
            self.echoed += 1

    def header(self, source_label, options):
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.write(f"# import_i2v from {source_label} at {now}; {options}", counted=False)

    def imported(self, n=1):
        self.counts["imported"] += n

    def already(self, n):
        self.counts["already imported"] += n
        self.counts["skipped"] += n

    def skipped(self, table, source_id, reason):
        self.counts["skipped"] += 1
        self.write(f"skipped {table} #{source_id}: {reason}")

    def failed(self, table, source_id, reason):
        self.counts["failed"] += 1
        self.write(f"failed  {table} #{source_id}: {reason}")

    def note(self, table, source_id, text):
        self.write(f"changed {table} #{source_id}: {text}")

    def file(self, outcome, n=1):
        self.counts[f"files {outcome}"] += n

    def file_failed(self, table, source_id, reason):
        self.counts["files failed"] += 1
        self.write(f"failed  {table} #{source_id}, an output: {reason}")

    def summary(self, dry_run=False, log_name=None):
        c = self.counts
        head = "import_i2v, dry run (nothing was written):" if dry_run else "import_i2v:"
        line = (
            f"{head} {c['imported']:,} imported, {c['skipped']:,} skipped, {c['failed']:,} failed"
            f"; files: {c['files stored']:,} stored, {c['files reused']:,} already here, "
            f"{c['files remote']:,} remote to fetch in the background, {c['files failed']:,} failed"
        )
        if c["already imported"]:
            line += f" ({c['already imported']:,} of the skipped were imported before)"
        if self.log and log_name:
            line += f"; reasons in {log_name}"
        elif self.lines > self.echoed:
            line += f" ({self.lines - self.echoed:,} more reasons not shown: pass --log FILE)"
        return line
