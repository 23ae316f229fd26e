#!/usr/bin/env bash
# Serve the web app with gunicorn and run the background worker beside it;
# stopping one (Ctrl-C, SIGTERM) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8000}"
WORKERS="${WEB_CONCURRENCY:-2}"

.venv/bin/flask --app wsgi worker &
worker=$!
.venv/bin/gunicorn --workers "$WORKERS" --bind "127.0.0.1:${PORT}" --access-logfile - \
  --graceful-timeout 20 wsgi:app &
web=$!

stop() { kill -TERM "$worker" "$web" 2>/dev/null || true; }
trap stop INT TERM EXIT
echo "motcua: http://127.0.0.1:${PORT}  (API docs: http://127.0.0.1:${PORT}/api/v1/docs)"
wait -n "$worker" "$web"
