"""PostgreSQL as Django's own backend has it, less a round trip per request, no JIT and no parallel workers.

With CONN_HEALTH_CHECKS (i2v/lib/env.py) Django checks a persistent connection before a
request's first query with `SELECT 1`: a round trip for every request that reads the
database, 70 µs of CPU and as much again of waiting, learning nothing in all but the
rarest case (docs/benchmarks.md, "Twenty-third pass"). A connection the server has ended
(a restart, a terminated backend, an idle timeout) says so on its socket: the server's
last message and the end of the stream wait there to be read, while an idle connection in
good health has nothing waiting. So the socket is polled first, without waiting, and
Django's own check runs only when something is there. A connection lost without a word (a
network cut) is found by its first query, as it would be between that check and the query:
that request gets i2v/lib/outage.py's 503 and the next one a new connection.

No setting of Django's or of psycopg's does this; the check is Django's to make, so the
backend is Django's with is_usable() replaced.

Its connections ask the server for no JIT compilation (get_connection_params(): `-c jit=off`
first among the connection's options, so that a URL's own `options` can turn it on). PostgreSQL compiles
a plan whose cost passes jit_above_cost, and the lists' EXPLAINs of a common word's matches
(i2v/lib/pagination.py planner_rows()) cost that: the first in each connection loaded the LLVM
provider, 17-40 ms of a request at a million pipelines, once a minute in each process (a kept
connection lives CONN_MAX_AGE, 60 s); the one plan found run compiled, a text no index serves,
took longer compiled than not (docs/benchmarks.md, twenty-eighth and thirty-second passes).

Nor parallel workers (`-c max_parallel_workers_per_gather=0`): every statement of the lists reads a page's
worth of index entries, a millisecond or two, and a worker costs about as much to start. The planner
still chose them: two weeks of pipelines with "sailboat" sorted by cost, whose days' runs merged read 458
entries in 1.05 ms, were read whole by two workers and sorted, 11-13 ms (docs/benchmarks.md, "Fifty-first
pass"). On a machine of two cores the web processes and the workers already share, a statement's workers
take them from the others.
"""

import select

from django.db.backends.postgresql import base
from psycopg import Error


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        params["options"] = " ".join(filter(None, ["-c jit=off -c max_parallel_workers_per_gather=0", params.get("options")]))
        return params

    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        try:
            waiting = select.poll()
            waiting.register(connection.fileno(), select.POLLIN)
            ready = waiting.poll(0)
        except (Error, OSError):
            return False
        return super().is_usable() if ready else True
