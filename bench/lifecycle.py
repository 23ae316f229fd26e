#!/usr/bin/env python3
"""Lifecycle: the standard dossier flow through the HTTP API, gunicorn (2 workers) + PostgreSQL, loopback.

    .venv/bin/python bench/lifecycle.py [--seconds 20] [--concurrency 1 4 16] [--database-url URL]

Each client thread loops: start an instance of ``bench_standard_flow`` (start + 5 user tasks with form
data + 2 script tasks + end), then five times list its open tasks and complete the one it finds, with the
form data, as the one-stop clerk ``tiepnhan`` (department MOTCUA: access rules are checked as for a real
person). Per concurrency level it runs ``--seconds`` of load (a dossier under way when the time is up is
finished), after a short warm-up, and prints dossiers/s, task completions/s and p50/p95/p99 per
operation; the web workers' resident memory is sampled all along. Ends with a one-line JSON summary.
The database (``motcua_bench`` by default) is dropped and recreated.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections import defaultdict

from common import (
    DEFAULT_URL,
    Server,
    pcts,
    print_machine,
    reset_database,
    seed_people,
    sessions_for,
    summary,
    table,
)

USER_TASKS = 5
PROCESS = "bench_standard_flow"


def form(element_id: str) -> dict:
    return {f"{element_id}_note": "Hồ sơ đầy đủ", f"{element_id}_amount": 150000, f"{element_id}_ok": True}


class Client:
    """One keep-alive-when-possible HTTP connection (sync gunicorn closes it; http.client reopens)."""

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        payload = json.dumps(body) if body is not None else None
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=payload, headers=self.headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status, (json.loads(data) if data else {})
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def run_level(port: int, token: str, concurrency: int, seconds: float, samples: dict, stop_at: float) -> dict:
    errors: list[str] = []
    counts = defaultdict(int)
    lock = threading.Lock()

    def worker() -> None:
        client = Client(port, token)
        timings = defaultdict(list)
        done = completions = 0
        while time.monotonic() < stop_at and not errors:
            t0 = time.perf_counter()
            status, body = client.call("POST", f"/api/v1/processes/{PROCESS}/instances", {"data": {"n": done}})
            timings["start"].append((time.perf_counter() - t0) * 1000)
            if status != 201:
                errors.append(f"start: {status} {body}")
                break
            iid = body["id"]
            for _ in range(USER_TASKS):
                t0 = time.perf_counter()
                status, page = client.call("GET", f"/api/v1/tasks?instance_id={iid}")
                timings["list tasks"].append((time.perf_counter() - t0) * 1000)
                if status != 200 or len(page.get("items", [])) != 1:
                    errors.append(f"list tasks: {status} {str(page)[:300]}")
                    return
                task = page["items"][0]
                t0 = time.perf_counter()
                status, body = client.call("POST", f"/api/v1/tasks/{task['id']}/complete",
                                           {"data": form(task["element_id"])})
                timings["complete"].append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    errors.append(f"complete: {status} {str(body)[:300]}")
                    return
                completions += 1
            if body.get("status") != "completed":
                errors.append(f"instance {iid} ended {body.get('status')}")
                return
            done += 1
        with lock:
            for name, values in timings.items():
                samples[name].extend(values)
            counts["dossiers"] += done
            counts["completions"] += completions

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    if errors:
        raise SystemExit(f"concurrency {concurrency}: {errors[0]}")
    return {"elapsed": elapsed, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description="lifecycle benchmark (HTTP API, gunicorn, PostgreSQL)")
    parser.add_argument("--seconds", type=float, default=20.0, help="load per concurrency level")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    info = print_machine(args.database_url)
    reset_database(args.database_url)
    engine, sessions = sessions_for(args.database_url)
    token = seed_people(sessions)["tiepnhan"]
    engine.dispose()

    results = {}
    peak_rss = 0.0
    with Server(args.database_url, workers=args.workers) as server:
        memory_stop = threading.Event()

        def sample_memory() -> None:
            nonlocal peak_rss
            while not memory_stop.is_set():
                peak_rss = max([peak_rss, *server.worker_rss_mb()])
                memory_stop.wait(0.5)

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        run_level(server.port, token, 2, args.warmup, defaultdict(list), time.monotonic() + args.warmup)
        for level in args.concurrency:
            samples: dict[str, list[float]] = defaultdict(list)
            outcome = run_level(server.port, token, level, args.seconds, samples, time.monotonic() + args.seconds)
            results[level] = {
                "dossiers_per_s": round(outcome["dossiers"] / outcome["elapsed"], 1),
                "completions_per_s": round(outcome["completions"] / outcome["elapsed"], 1),
                **{name: pcts(values) for name, values in samples.items()},
            }
            print(f"  concurrency {level}: {outcome['dossiers']} dossiers in {outcome['elapsed']:.1f} s", flush=True)
        memory_stop.set()
        sampler.join()
        final_rss = server.worker_rss_mb()

    print(f"\nstandard flow over HTTP, gunicorn {args.workers} sync workers, client on the same machine")
    rows = []
    for level, r in results.items():
        for op in ("start", "list tasks", "complete"):
            rows.append([f"c={level} {op}", r[op]["n"], r[op]["p50"], r[op]["p95"], r[op]["p99"],
                         r["dossiers_per_s"] if op == "start" else "",
                         r["completions_per_s"] if op == "complete" else ""])
    table(["operation", "n", "p50 ms", "p95 ms", "p99 ms", "dossiers/s", "completions/s"], rows)
    print(f"web worker memory: peak {peak_rss:.0f} MB, at the end {', '.join(f'{m:.0f}' for m in final_rss)} MB "
          f"(target < 250 MB)")
    summary("lifecycle", {"machine": info, "workers": args.workers, "seconds": args.seconds,
                          "levels": results, "peak_worker_rss_mb": round(peak_rss, 1)})


if __name__ == "__main__":
    main()
