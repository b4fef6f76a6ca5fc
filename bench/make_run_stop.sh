#!/bin/bash
# How long `make run` takes to stop after Ctrl-C: starts it on PORT with its own VAR_DIR (SQLite, filesystem broker),
# waits until the web answers and the three workers and beat are up, sends SIGINT to its process group (what Ctrl-C
# does), times the exit and counts what is left and any "Segmentation fault". Usage: bench/make_run_stop.sh PORT VAR_DIR LOG
cd "$(dirname "$0")/.."
export VAR_DIR=$2; unset DATABASE_URL REDIS_URL
setsid make run PORT=$1 > $3 2>&1 &
PG=$!
for i in $(seq 1 600); do
  n=$(grep -c " ready\." $3); code=$(curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:$1/healthz)
  [ "$code" = 200 ] && [ "$n" -ge 3 ] && grep -q "beat: Starting" $3 && break
  sleep 0.5
done
echo "serving: healthz $code, workers ready $n, after ${i} polls"
S=$(date +%s.%N); kill -INT -- -$PG
while kill -0 $PG 2>/dev/null; do sleep 0.05; done
E=$(date +%s.%N); echo "stopped after $(echo "$E - $S" | bc) s"
# The children run in process groups of their own: find them by their environment (make's MAKELEVEL and this
# VAR_DIR; this script's own processes have no MAKELEVEL).
left() { grep -lsz "^MAKELEVEL=" $(grep -lsz "^VAR_DIR=$VAR_DIR\$" /proc/[0-9]*/environ) /dev/null | grep -v /dev/null | wc -l; }
for i in $(seq 1 200); do [ "$(left)" = 0 ] && break; sleep 0.05; done
E2=$(date +%s.%N); echo "all processes gone after $(echo "$E2 - $S" | bc) s; left: $(left)"
grep -c "Segmentation fault" $3; grep -E "i2v:|SIGKILL|Interrupt|make:" $3 | tail -8
