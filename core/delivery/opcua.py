"""The OPC UA server `steelscan deliver` runs (asyncua): results shaped after OPC 40100 (Machine Vision).

Address space (namespace `urn:steelscan:machinevision`, string node ids, `<line>` = the line's name):

    SteelScan.SystemState                      String   Ready while deliver runs
    SteelScan.<line>.SystemState               String   Ready | Halted (deliver stopping)
    SteelScan.<line>.ResultCount               UInt64   verdicts published on this line since start
    SteelScan.<line>.LastResult.<field>        the 40100 result fields of the line's last verdict (below)
    SteelScan.<line>.LastDecision              String   the last inspector decision's message (JSON)
    SteelScan.<line>.GetResultsSince(Int64)    String   JSON list of the line's results after that sequence

Result fields (on LastResult and on each ResultReady event): ResultId (the message id), ResultState (OK | NG),
PartId (image name), ProductId (coil id, "" when none), RecipeId (model set name@version), JobId (line/source),
CreationTime (DateTime), ProcessingTimes (ms, JSON of the stages), ResultContent (the whole message, JSON),
Sequence (the line's order). Every verdict raises a ResultReadyEventType event from the Server object, its
SourceName the line. A client that was away calls GetResultsSince(last sequence it saw) and misses nothing the
outbox still keeps (keep_days).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import select

from core.contract.errors import SteelScanError
from core.delivery.sinks import SinkError, body
from core.review.store.models import OutboxRow

NAMESPACE = "urn:steelscan:machinevision"
STRING_FIELDS = ("ResultId", "ResultState", "PartId", "ProductId", "RecipeId", "JobId", "ProcessingTimes",
                 "ResultContent")
RESULTS_SINCE_LIMIT = 1000


def result_fields(message: dict) -> dict:
    """A verdict message as 40100 result fields (strings but CreationTime and Sequence)."""
    model = message.get("model_set", {})
    created = message.get("times", {}).get("recorded_at")
    return {
        "ResultId": message["message_id"],
        "ResultState": message["verdict"],
        "PartId": message["image"]["name"],
        "ProductId": message.get("coil") or "",
        "RecipeId": f"{model.get('name', '')}@{model.get('version', '')}",
        "JobId": f"{message['line']}/{message.get('source', '')}",
        "CreationTime": datetime.fromisoformat(created.removesuffix("Z")).replace(tzinfo=UTC) if created else None,
        "ProcessingTimes": json.dumps(message.get("times", {}).get("timings_ms", {}), sort_keys=True),
        "ResultContent": json.dumps(message, sort_keys=True, separators=(",", ":")),
        "Sequence": message["sequence"],
    }


class OpcUaSink:
    """Serves OPC UA on `endpoint` from its own thread and event loop; `send` publishes rows there in order."""

    name = "opcua"

    def __init__(self, endpoint: str, line: str, db=None, timeout_s: float = 10.0) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "opc.tcp" or parts.port is None:
            raise SteelScanError(f"opcua_endpoint {endpoint}", "is not opc.tcp://host:port",
                                 "set opcua_endpoint (STEELSCAN_OPCUA_ENDPOINT) to e.g. opc.tcp://0.0.0.0:4840")
        self.endpoint, self.line, self.db, self.timeout_s = endpoint, line, db, timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._lines: dict[str, dict] = {}

    @property
    def target(self) -> str:
        return self.endpoint

    # -- the server's own thread --------------------------------------------------------------------------------

    def _call(self, coroutine):
        if self._loop is None:
            coroutine.close()
            raise SinkError(f"the OPC UA server on {self.endpoint} is not running")
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self.timeout_s)
        except SinkError:
            raise
        except Exception as exc:  # asyncua raises its own and OSError alike; the loop only needs the reason
            raise SinkError(f"the OPC UA server on {self.endpoint}: {exc!r}") from None

    def open(self) -> None:
        for name in ("asyncua", "asyncua.server", "asyncua.common"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="opcua-server", daemon=True)
        self._thread.start()
        try:
            self._call(self._start())
        except SinkError:
            self.close()
            raise

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        server, self._server = self._server, None

        async def shut_down() -> None:
            if server is not None:
                await server.stop()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:  # the server's session and subscription loops: ended, not left pending
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shut_down(), loop).result(self.timeout_s)
        except Exception:  # noqa: BLE001 (closing: a failure to serve was reported when it happened)
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s)
        loop.close()
        self._lines.clear()

    async def _start(self) -> None:
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("SteelScan")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self._ns = await server.register_namespace(NAMESPACE)
        properties = [(name, ua.VariantType.String) for name in STRING_FIELDS]
        properties += [("CreationTime", ua.VariantType.DateTime), ("Sequence", ua.VariantType.Int64)]
        self._event_type = await server.create_custom_event_type(self._ns, "ResultReadyEventType",
                                                                 ua.ObjectIds.BaseEventType, properties)
        self._root = await server.nodes.objects.add_object(ua.NodeId("SteelScan", self._ns), "SteelScan")
        self._state = await self._root.add_variable(ua.NodeId("SteelScan.SystemState", self._ns), "SystemState",
                                                    "Ready", ua.VariantType.String)
        try:
            await server.start()
        except OSError as exc:
            raise SinkError(f"cannot serve OPC UA on {self.endpoint} ({exc.strerror or exc})") from None
        self._server = server
        await self._line(self.line)

    async def _line(self, line: str) -> dict:
        if line in self._lines:
            return self._lines[line]
        from asyncua import ua

        ns, prefix = self._ns, f"SteelScan.{line}"
        node = await self._root.add_object(ua.NodeId(prefix, ns), line)
        last = await node.add_object(ua.NodeId(f"{prefix}.LastResult", ns), "LastResult")
        variables = {name: await last.add_variable(ua.NodeId(f"{prefix}.LastResult.{name}", ns), name, "",
                                                   ua.VariantType.String) for name in STRING_FIELDS}
        variables["CreationTime"] = await last.add_variable(ua.NodeId(f"{prefix}.LastResult.CreationTime", ns),
                                                            "CreationTime", None, ua.VariantType.DateTime)
        variables["Sequence"] = await last.add_variable(ua.NodeId(f"{prefix}.LastResult.Sequence", ns), "Sequence",
                                                        0, ua.VariantType.Int64)

        async def results_since(_parent, sequence):
            return [ua.Variant(self._results_since(line, int(sequence.Value)), ua.VariantType.String)]

        await node.add_method(ua.NodeId(f"{prefix}.GetResultsSince", ns), "GetResultsSince", results_since,
                              [ua.VariantType.Int64], [ua.VariantType.String])
        generator = await self._server.get_event_generator(self._event_type, ua.ObjectIds.Server)
        generator.event.SourceNode, generator.event.SourceName = node.nodeid, line
        self._lines[line] = {
            "variables": variables, "generator": generator, "count": 0,
            "state": await node.add_variable(ua.NodeId(f"{prefix}.SystemState", ns), "SystemState", "Ready",
                                             ua.VariantType.String),
            "result_count": await node.add_variable(ua.NodeId(f"{prefix}.ResultCount", ns), "ResultCount", 0,
                                                    ua.VariantType.UInt64),
            "decision": await node.add_variable(ua.NodeId(f"{prefix}.LastDecision", ns), "LastDecision", "",
                                                ua.VariantType.String),
        }
        return self._lines[line]

    def _results_since(self, line: str, sequence: int) -> str:
        """The line's verdicts after `sequence`, oldest first, at most RESULTS_SINCE_LIMIT (call again for more)."""
        if self.db is None:
            return "[]"
        rows = self.db._read(lambda s: list(s.scalars(
            select(OutboxRow).where(OutboxRow.line == line, OutboxRow.id > sequence, OutboxRow.kind == "verdict")
            .order_by(OutboxRow.id).limit(RESULTS_SINCE_LIMIT))))
        return json.dumps([json.loads(body(r)) for r in rows if self.name in r.sinks])

    async def _publish(self, messages: list[dict]) -> None:
        from asyncua import ua

        for message in messages:
            line = await self._line(message["line"])
            if message["kind"] == "decision":
                await line["decision"].write_value(json.dumps(message, sort_keys=True), ua.VariantType.String)
                continue
            fields = result_fields(message)
            for name, value in fields.items():
                kind = {"CreationTime": ua.VariantType.DateTime, "Sequence": ua.VariantType.Int64}.get(
                    name, ua.VariantType.String)
                await line["variables"][name].write_value(ua.Variant(value, kind))
            line["count"] += 1
            await line["result_count"].write_value(ua.Variant(line["count"], ua.VariantType.UInt64))
            event = line["generator"].event
            for name, value in fields.items():
                setattr(event, name, value)
            event.Severity = 700 if fields["ResultState"] == "NG" else 100
            await line["generator"].trigger(message=f"{fields['ResultState']} {fields['PartId']}")

    # -- the sink interface ---------------------------------------------------------------------------------------

    def send(self, rows: list[OutboxRow]) -> None:
        self._call(self._publish([json.loads(body(row)) for row in rows]))

    def status(self, line: str, state: dict) -> None:
        from asyncua import ua

        async def write() -> None:
            text = "Ready" if state.get("state") == "online" else "Halted"
            await (await self._line(line))["state"].write_value(text, ua.VariantType.String)

        if self._server is not None:
            self._call(write())
