"""The OPC UA server `steelscan deliver` runs, read by a real asyncua client: 40100 result fields on the line's
LastResult, a ResultReady event per verdict, the line's state, and a client that was away catching up."""

from __future__ import annotations

import asyncio
import json

from core.delivery.opcua import NAMESPACE, OpcUaSink
from tests.core.delivery.conftest import LINE, make_log
from tests.core.delivery.test_sinks import message_ids, record
from tests.helpers.line_servers import free_port, wait_until

FIELDS = ("ResultId", "ResultState", "PartId", "ProductId", "RecipeId", "JobId", "CreationTime",
          "ProcessingTimes", "ResultContent", "Sequence")


class Events:
    def __init__(self) -> None:
        self.received: list[dict] = []

    def event_notification(self, event) -> None:
        values = event.get_event_props_as_fields_dict()
        self.received.append({name: values[name].Value for name in (*FIELDS, "SourceName") if name in values})


async def read_line(url: str, work):
    from asyncua import Client

    async with Client(url, timeout=10) as client:
        ns = await client.get_namespace_index(NAMESPACE)
        return await work(client, ns)


def test_a_client_reads_results_gets_an_event_per_verdict_and_catches_up_after_being_away(tmp_path, deliver):
    from asyncua import Client, ua

    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    log = make_log(tmp_path, "opcua")
    sink = OpcUaSink(f"opc.tcp://127.0.0.1:{port}", LINE, db=log)
    deliver(log, [sink])
    wait_until(lambda: sink._server is not None, what="the OPC UA server to start")
    events = Events()

    async def subscribe_and_wait_for(count: int):
        async with Client(url, timeout=10) as client:
            ns = await client.get_namespace_index(NAMESPACE)
            event_type = await client.nodes.root.get_child(
                ["0:Types", "0:EventTypes", "0:BaseEventType", f"{ns}:ResultReadyEventType"])
            subscription = await client.create_subscription(50, events)
            await subscription.subscribe_events(client.nodes.server, event_type)
            await asyncio.get_running_loop().run_in_executor(None, record, log, range(count))
            for _ in range(200):
                if len(events.received) >= count:
                    break
                await asyncio.sleep(0.05)
            line = client.get_node(ua.NodeId(f"SteelScan.{LINE}", ns))
            last = {name: await client.get_node(ua.NodeId(f"SteelScan.{LINE}.LastResult.{name}", ns)).read_value()
                    for name in FIELDS}
            state = await client.get_node(ua.NodeId(f"SteelScan.{LINE}.SystemState", ns)).read_value()
            count_now = await client.get_node(ua.NodeId(f"SteelScan.{LINE}.ResultCount", ns)).read_value()
            return line, last, state, count_now

    _, last, state, count_now = asyncio.run(subscribe_and_wait_for(5))
    expected = message_ids(log)
    assert [e["ResultId"] for e in events.received] == expected  # one event per verdict, in order
    assert {e["SourceName"] for e in events.received} == {LINE}
    assert [e["ResultState"] for e in events.received] == ["OK", "NG", "OK", "NG", "OK"]
    first = events.received[0]
    content = json.loads(first["ResultContent"])
    assert content["message_id"] == first["ResultId"] and first["PartId"] == "strip_0000.png"
    assert first["RecipeId"].startswith(content["model_set"]["name"] + "@") and first["JobId"] == f"{LINE}/upload"
    assert last["ResultId"] == expected[-1] and last["Sequence"] == events.received[-1]["Sequence"]
    assert last["CreationTime"] is not None and state == "Ready" and count_now == 5

    # the client goes away; verdicts keep coming; back, it asks for what it missed by the last sequence it saw
    seen = events.received[-1]["Sequence"]
    record(log, range(5, 12))
    wait_until(lambda: sink._lines[LINE]["count"] == 12, what="12 results published")

    async def catch_up(client, ns):
        line = client.get_node(ua.NodeId(f"SteelScan.{LINE}", ns))
        return json.loads(await line.call_method(ua.NodeId(f"SteelScan.{LINE}.GetResultsSince", ns),
                                                 ua.Variant(seen, ua.VariantType.Int64)))

    missed = asyncio.run(read_line(url, catch_up))
    assert [m["message_id"] for m in missed] == message_ids(log)[5:]
