"""`steelscan train --from-review-log`: queue a training job, start it as its own process (the same one the Models
page starts), follow its log; `--jobs` lists jobs, `--cancel JOB` stops one. `--job ID` is the job's process."""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from core.contract.settings import load_settings
from core.retrain import jobs
from core.review.store import ReviewLog


def main(args: argparse.Namespace) -> int:
    settings = load_settings()
    log = ReviewLog.from_settings(settings)
    if args.job is not None:  # this process is the job
        from core.retrain.runner import run_job

        niceness = jobs.lower_priority()
        if niceness is not None:
            print(f"job {args.job}: training at CPU priority nice {niceness}: inspection on this machine goes first",
                  flush=True)
        run_job(log, args.job, settings)
        jobs.start_next(log, settings)  # the next queued job, if any, runs after this one
        return 0 if jobs.job(log, args.job).status == "succeeded" else 1
    who = args.by or getpass.getuser()
    if args.jobs:
        jobs.reap(log)
        for row in jobs.jobs(log):
            print(f"{row.id:>4}  {row.status:<10} {row.progress:>4.0%}  {row.stage:<28} by {row.requested_by} at "
                  f"{row.requested_at:%Y-%m-%d %H:%M}  {row.result.get('candidate', '') if row.result else ''}"
                  f"{'  ' + row.error.splitlines()[0] if row.error else ''}")
        return 0
    if args.cancel is not None:
        row = jobs.cancel(log, args.cancel, who)
        print(f"job {row.id}: cancelled")
        return 0
    options = {"preset": args.preset, "parent": args.parent, "seed": args.seed}
    job_id = jobs.submit(log, who, options)
    started = jobs.start_next(log, settings)
    print(f"job {job_id} queued" + (" and started" if started == job_id else " (another job runs; it starts next)"))
    if args.detach:
        return 0
    return follow(log, job_id)


def follow(log: ReviewLog, job_id: int, every_s: float = 2.0) -> int:
    """Print the job's log as it grows until it ends; Ctrl-C stops following, never the job."""
    offset = 0
    try:
        while True:
            row = jobs.job(log, job_id)
            if row.log_path:
                offset = _print_new(row.log_path, offset)
            if row.status in jobs.FINISHED:
                print(f"job {job_id}: {row.status}" + (f" ({row.error.splitlines()[0]})" if row.error else ""))
                return 0 if row.status == "succeeded" else 1
            if row.status == "running":
                jobs.reap(log)
            time.sleep(every_s)
    except KeyboardInterrupt:
        print(f"\nstopped following; job {job_id} goes on (steelscan train --jobs, --cancel {job_id})")
        return 0


def _print_new(path: str, offset: int) -> int:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return offset
    sys.stdout.write(chunk.decode("utf-8", "replace"))
    sys.stdout.flush()
    return offset + len(chunk)
