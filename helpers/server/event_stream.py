"""The ASGI responses that play a plan on the wire: a stream sent on time, and a non-streamed
answer cut off by the disconnect fault."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from helpers.server.capacity import Pace, Slot, StatsCounter, StreamGate
from helpers.server.faults import SimulatedDisconnect
from helpers.server.planning import StreamPlan
from helpers.server.wire import SSE_DONE

__all__ = ["CutOffAnswer", "Departure", "EventStream", "StreamEnding"]

# How a stream that reached its end ended, as ServerStats counts it.
StreamEnding = Literal["completed", "client_closed", "faulted"]
_EVENT_STREAM = "text/event-stream; charset=utf-8"
# At most this many events share one write: a fast stream then yields the event loop often, so
# other learners' streams keep their schedule, and it notices a disconnect soon.
_MAX_BATCH = 32


class Departure:
    """Watches a request's `receive` for the client leaving: then notes it and cancels."""

    def __init__(self) -> None:
        self.gone = False

    async def watch(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        scope.cancel()


class EventStream(Response):
    """Sends a StreamPlan on time and stops as soon as the client goes away; releases `slot`
    when it is over."""

    def __init__(
        self,
        plan: StreamPlan,
        arrived: float,
        stats: StatsCounter,
        gate: StreamGate,
        headers: Mapping[str, str],
        slot: Slot,
        pace: Pace | None = None,
    ) -> None:
        self.status_code = 200
        self.media_type = _EVENT_STREAM
        self.background = None
        self.init_headers(headers)
        self._plan = plan
        self._arrived = arrived
        self._stats = stats
        self._gate = gate
        self._slot = slot
        self._pace = pace
        self._departure = Departure()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._respond(receive, send)
        finally:
            self._slot.release()

    async def _respond(self, receive: Receive, send: Send) -> None:
        ending: StreamEnding | Literal["disconnect"] | None = None
        started = False
        try:
            async with anyio.create_task_group() as group:
                # Watching from the start: a client that leaves during a slow first byte
                # frees its slot at once, not when the headers would have gone out.
                group.start_soon(self._departure.watch, receive, group.cancel_scope)
                await self._gate.wait_until(self._arrived + self._plan.headers_at)
                await send(
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                )
                started = True
                self._stats.add("active")
                ending = await self._send_events(send)
                group.cancel_scope.cancel()
        finally:
            if started:
                self._stats.add("active", -1)
            if self._departure.gone:
                self._stats.add("client_closed")
            elif ending is not None:
                self._stats.add("faulted" if ending == "disconnect" else ending)
        if ending == "disconnect":
            raise SimulatedDisconnect()
        if ending is not None and not self._departure.gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_events(self, send: Send) -> StreamEnding | Literal["disconnect"]:
        # The plan makes each event when it is asked for: one is looked at ahead.
        events = iter(self._plan.events)
        pending = next(events, None)
        while pending is not None:
            await self._gate.wait_until(self._arrived + pending.at)
            if pending.disconnect:
                return "disconnect"
            # Everything already due leaves in one write, as a burst does on the real wire.
            batch = [pending]
            pending = next(events, None)
            due = self._gate.due_now() - self._arrived
            while (
                pending is not None
                and len(batch) < _MAX_BATCH
                and not pending.disconnect
                and pending.at <= due
            ):
                batch.append(pending)
                pending = next(events, None)
            if self._pace is not None:
                await self._pace.take(len(batch))
            body = b"".join(event.data for event in batch)
            await send({"type": "http.response.body", "body": body, "more_body": True})
            self._stats.add("chunks_sent", sum(event.data != SSE_DONE for event in batch))
        return "faulted" if self._plan.faulted else "completed"


class CutOffAnswer(Response):
    """Starts a JSON answer of `length` bytes, then drops the connection (the disconnect fault)."""

    def __init__(self, length: int) -> None:
        self.status_code = 200
        self.media_type = "application/json"
        self.background = None
        self.init_headers({"content-length": str(length)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        raise SimulatedDisconnect()
