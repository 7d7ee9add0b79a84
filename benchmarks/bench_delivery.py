"""Delivery to the plant: 1,000 verdicts through MQTT + webhook + OPC UA, and a 60-s outage of all three.

    python benchmarks/bench_delivery.py [--verdicts 1000] [--rate 20] [--outage 60] [--outage-rate 2]

Runs `steelscan deliver` as a separate process against real servers on 127.0.0.1 only: Debian's mosquitto
(scripts/ensure_services.sh installs it), an http.server webhook receiver, and an asyncua client subscribed to
ResultReady events. Verdicts (64x64 sheets, real Verdict objects) are recorded into a fresh review log on two
lines at `rate` per second, as the watcher, the API and the dashboard record them; the outbox row is written in
the same transaction. Prints, per sink: all delivered?, in order per line?, p50/p95 of recorded -> arrival.

Then the outage: the broker is killed (SIGKILL), the webhook receiver stopped and the OPC UA client disconnected
for `outage` seconds while verdicts keep coming at `outage-rate` per second; all three come back. Prints lost
(written but never arrived) and repeats (arrived more than once, always with the first delivery's id). The OPC UA
client catches up with GetResultsSince(last sequence seen). Bounded: at most verdicts + outage * outage-rate + a
few hundred records, and --max-seconds in all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from line_common import ROOT, percentile
from sqlalchemy import select

from core.delivery.opcua import NAMESPACE
from core.delivery.outbox import Outbox
from core.review.store import ReviewLog
from core.review.store.models import OutboxRow
from tests.helpers.dashboard import make_verdict, noise_png
from tests.helpers.line_servers import Broker, Receiver, Subscriber, free_port, mosquitto_binary, wait_until

LINES = ("line-a", "line-b")
SECRET = "bench-webhook-secret-0123456789"


class OpcClient:
    """An asyncua client in its own thread: ResultReady events (id -> first arrival time), away on request,
    catching up by GetResultsSince when back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.arrivals: list[tuple[str, float]] = []
        self.caught_up: list[str] = []
        self.last_sequence = dict.fromkeys(LINES, 0)
        self.away, self.stop = threading.Event(), threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()

    def event_notification(self, event) -> None:
        fields = event.get_event_props_as_fields_dict()
        arrived = time.time()
        message_id, line = fields["ResultId"].Value, fields["SourceName"].Value
        self.arrivals.append((message_id, arrived))
        self.last_sequence[line] = max(self.last_sequence.get(line, 0), fields["Sequence"].Value)

    async def _session(self, catch_up: bool) -> None:
        from asyncua import Client, ua

        async with Client(self.url, timeout=10) as client:
            ns = await client.get_namespace_index(NAMESPACE)
            if catch_up:
                for line in LINES:
                    while True:
                        node = client.get_node(ua.NodeId(f"SteelScan.{line}", ns))
                        missed = json.loads(await node.call_method(
                            ua.NodeId(f"SteelScan.{line}.GetResultsSince", ns),
                            ua.Variant(self.last_sequence[line], ua.VariantType.Int64)))
                        if not missed:
                            break
                        self.caught_up += [m["message_id"] for m in missed]
                        self.last_sequence[line] = missed[-1]["sequence"]
            event_type = await client.nodes.root.get_child(
                ["0:Types", "0:EventTypes", "0:BaseEventType", f"{ns}:ResultReadyEventType"])
            subscription = await client.create_subscription(20, self)
            await subscription.subscribe_events(client.nodes.server, event_type)
            self.ready.set()
            while not self.stop.is_set() and not self.away.is_set():
                await asyncio.sleep(0.05)

    async def _main(self) -> None:
        catch_up = False
        while not self.stop.is_set():
            for _ in range(100):  # the server may still be starting
                try:
                    await self._session(catch_up)
                    break
                except Exception:  # noqa: BLE001 (asyncua raises its own and OSError alike: retry)
                    await asyncio.sleep(0.2)
            while self.away.is_set() and not self.stop.is_set():
                await asyncio.sleep(0.05)
                catch_up = True


def record(log: ReviewLog, seeds: range, rate: float, recorded: dict[int, float]) -> None:
    """Record one verdict per seed at `rate` per second, alternating lines; recorded[inference_id] = time.time()."""
    start = time.monotonic()
    for n, seed in enumerate(seeds):
        data = noise_png(seed, size=32)
        probabilities = (0.9, 0.1, 0.1, 0.1) if seed % 3 == 0 else (0.1, 0.1, 0.1, 0.1)
        verdict = make_verdict(data, f"strip_{seed:06d}.png", probabilities)
        inference_id = log.record_inference(verdict, data, source="watch", line=LINES[seed % 2])
        recorded[inference_id] = time.time()
        delay = start + (n + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def summarise(name: str, arrivals: list[tuple[str, float]], written: list[OutboxRow], recorded: dict[int, float],
              extra_ids: list[str] = ()) -> dict:
    first: dict[str, float] = {}
    for message_id, at in arrivals:
        first.setdefault(message_id, at)
    counts = Counter(message_id for message_id, _ in arrivals)
    ids = {r.message_id for r in written}
    lost = ids - set(first) - set(extra_ids)
    in_order = True
    for line in LINES:
        expected = [r.message_id for r in written if r.line == line]
        order = [m for m in dict.fromkeys(m for m, _ in arrivals) if m in set(expected)]
        arrived_expected = [m for m in expected if m in first]
        in_order &= order == arrived_expected
    latencies = [first[r.message_id] - recorded[r.inference_id] for r in written if r.message_id in first]
    return {"sink": name, "written": len(ids), "arrived": len((set(first) | set(extra_ids)) & ids),
            "lost": len(lost), "repeats": sum(c - 1 for c in counts.values()), "in_order": in_order,
            "p50_ms": 1000 * percentile(latencies, 50) if latencies else None,
            "p95_ms": 1000 * percentile(latencies, 95) if latencies else None,
            "max_ms": 1000 * max(latencies) if latencies else None}


def show(title: str, rows: list[dict]) -> None:
    print(title)
    for r in rows:
        timing = (f"recorded -> arrival p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, max {r['max_ms']:.0f} ms"
                  if r["p50_ms"] is not None else "no timings")
        print(f"  {r['sink']:<8} {r['arrived']}/{r['written']} arrived, lost {r['lost']}, repeats {r['repeats']}, "
              f"in order per line: {'yes' if r['in_order'] else 'NO'}; {timing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verdicts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="verdicts per second in the first part")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds all three sinks are gone")
    parser.add_argument("--outage-rate", type=float, default=2.0, help="verdicts per second during the outage")
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args()
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)  # the client's reconnects are the point here
    binary = mosquitto_binary()
    if binary is None:
        sys.exit("mosquitto is not installed: run `bash scripts/ensure_services.sh` as root")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker, receiver = Broker(work / "broker", binary), Receiver()
        broker.start()
        receiver.start()
        subscriber = Subscriber(broker.port, client_id="bench-subscriber")
        opcua_port = free_port()
        opcua_url = f"opc.tcp://127.0.0.1:{opcua_port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "STEELSCAN_SETTINGS": str(work / "none.toml"),
               "STEELSCAN_DATABASE_URL": f"sqlite:///{work / 'log.db'}", "STEELSCAN_IMAGE_STORE": str(work / "img"),
               "STEELSCAN_LINE_NAME": LINES[0], "STEELSCAN_MQTT_URL": broker.url,
               "STEELSCAN_WEBHOOK_URL": receiver.url, "STEELSCAN_WEBHOOK_SECRET": SECRET,
               "STEELSCAN_OPCUA_ENDPOINT": opcua_url}
        log = ReviewLog(env["STEELSCAN_DATABASE_URL"], work / "img", Outbox(LINES[0], ("mqtt", "webhook", "opcua")))
        deliver = subprocess.Popen([sys.executable, "-m", "core.cli.main", "deliver"], cwd=ROOT, env=env,
                                   stderr=subprocess.PIPE, text=True)
        opc = OpcClient(opcua_url)
        if not opc.ready.wait(60):
            sys.exit("the OPC UA client could not subscribe within 60 s")
        deadline = time.monotonic() + args.max_seconds
        recorded: dict[int, float] = {}

        def written() -> list[OutboxRow]:
            return log._read(lambda s: list(s.scalars(select(OutboxRow).order_by(OutboxRow.id))))

        def arrivals() -> dict[str, list[tuple[str, float]]]:
            return {"mqtt": [(p["message_id"], at) for p, at in subscriber.arrivals("verdicts")],
                    "webhook": [(json.loads(data)["message_id"], at) for _, data, at in list(receiver.requests)],
                    "opcua": list(opc.arrivals)}

        def all_arrived(extra: list[str] = ()) -> bool:
            ids = {r.message_id for r in written()}
            got = arrivals()
            return all(ids <= {m for m, _ in got[s]} | (set(extra) if s == "opcua" else set()) for s in got)

        # part 1: 1,000 verdicts, every sink up
        started = time.monotonic()
        record(log, range(args.verdicts), args.rate, recorded)
        wait_until(lambda: all_arrived(), timeout_s=max(30.0, deadline - time.monotonic()),
                   what="every verdict at every sink")
        span = time.monotonic() - started
        rows = written()
        part1 = [summarise(name, got, rows, recorded) for name, got in arrivals().items()]
        show(f"part 1: {args.verdicts} verdicts on {len(LINES)} lines at {args.rate:g}/s, all sinks up "
             f"({span:.1f} s until the last arrived)", part1)

        # part 2: all three gone for `outage` s mid-stream
        before = {name: len(got) for name, got in arrivals().items()}
        seeds = range(args.verdicts, args.verdicts + int(args.outage * args.outage_rate) + 20)
        writer = threading.Thread(target=record, args=(log, seeds, args.outage_rate, recorded))
        writer.start()
        time.sleep(5)
        broker.stop(kill=True)
        receiver.stop()
        opc.away.set()
        time.sleep(args.outage)
        broker.start()
        receiver.start()
        opc.away.clear()
        writer.join()
        wait_until(lambda: all_arrived(opc.caught_up), timeout_s=max(60.0, deadline - time.monotonic()),
                   what="every verdict at every sink after the outage")
        rows2 = [r for r in written() if r.id > rows[-1].id]
        part2 = [summarise(name, got[before[name]:], rows2, recorded, opc.caught_up if name == "opcua" else ())
                 for name, got in arrivals().items()]
        show(f"part 2: broker SIGKILLed, webhook receiver stopped, OPC UA client away for {args.outage:g} s while "
             f"{len(rows2)} verdicts were recorded at {args.outage_rate:g}/s; OPC UA caught up "
             f"{len(opc.caught_up)} by GetResultsSince", part2)

        opc.stop.set()
        deliver.send_signal(signal.SIGTERM)
        _, stderr = deliver.communicate(timeout=60)
        print("steelscan deliver said:", " | ".join(line for line in stderr.splitlines()[-3:]))
        subscriber.close()
        receiver.stop()
        broker.stop()
        log.close()


if __name__ == "__main__":
    main()
