"""Deliver every recorded verdict and inspector decision to the plant: MQTT, a signed webhook, an OPC UA server.

    steelscan deliver [--status] [--batch-size 100] [--poll 0.1] [--keep-days 7]

Reads the outbox the review log writes in the same transaction as each verdict and decision, and sends each
message at least once, in order per line, with a stable message_id to de-duplicate on. A sink that is down keeps
its backlog in the database; the Review queue page shows each sink's state, backlog and last error. Sinks come
from the settings mqtt_url, webhook_url (+ webhook_secret) and opcua_endpoint (docs/line.md). Stops cleanly on
Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from core.contract.errors import SteelScanError
from core.contract.settings import load_settings


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not above 0")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan deliver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--status", action="store_true", help="print each sink's state as JSON lines and exit")
    parser.add_argument("--batch-size", type=_positive(int), default=100, help="messages per read and send")
    parser.add_argument("--poll", type=_positive(float), default=0.1, help="seconds between looks at the outbox")
    parser.add_argument("--keep-days", type=float, default=7.0,
                        help="delivered messages are kept this many days, then pruned (default 7)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        from core.delivery.config import build_sinks
        from core.delivery.loop import Deliverer, DeliverOptions
        from core.delivery.status import sink_states
        from core.review.store.db import Database

        db = Database(settings.database_url)
        if args.status:
            for state in sink_states(db, settings):
                print(json.dumps(state, default=str))
            return 0
        sinks = build_sinks(settings, db)
        if not sinks:
            print("error: no sink is set — set mqtt_url, webhook_url (+ webhook_secret) or opcua_endpoint in "
                  "steelscan.toml or STEELSCAN_* variables (docs/line.md)", file=sys.stderr)
            return 2
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        print(f"delivering line {settings.line_name} to {', '.join(f'{s.name} {s.target}' for s in sinks)}; "
              "Ctrl-C stops", file=sys.stderr, flush=True)
        deliverer = Deliverer(db, sinks, DeliverOptions(batch_size=args.batch_size, poll_s=args.poll,
                                                        keep_days=args.keep_days))
        deliverer.run(stop)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for worker in deliverer.workers:
        print(f"{worker.sink.name}: {worker.delivered} delivered, {worker.retries} failed attempts"
              + (f", last error: {worker.last_error}" if worker.last_error else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
