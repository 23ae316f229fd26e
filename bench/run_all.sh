#!/usr/bin/env bash
# Every benchmark at full size, one after the other, on the bench PostgreSQL databases
# (BENCH_DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/motcua_bench; the scale
# benchmark uses motcua_bench_scale and keeps its 1M fill between runs: --reuse).
# Output goes to the terminal and to bench/results/<timestamp>.log; the SUMMARY lines are the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
URL="${BENCH_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/motcua_bench}"
mkdir -p bench/results
LOG="bench/results/$(date +%Y%m%d-%H%M%S).log"
{
  echo "== machine"; lscpu | grep -E 'Model name|^CPU\(s\)' || true; free -g | head -2
  echo "== engine ceiling";  $PY bench/engine_ceiling.py --instances 200 --database-url "$URL"
  echo "== lifecycle";       $PY bench/lifecycle.py --seconds 30 --database-url "$URL"
  echo "== history length";  $PY bench/history.py --rounds 200 --instances 5 --database-url "$URL"
  echo "== timers";          $PY bench/timers.py --timers 10000 --workers 2 --database-url "$URL"
  echo "== scale";           $PY bench/scale.py --dossiers 1000000 --open-tasks 100000 --reuse
} 2>&1 | tee "$LOG"
echo "figures: grep SUMMARY $LOG"
