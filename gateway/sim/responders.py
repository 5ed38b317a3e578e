"""Simulated responders: the district's grid workers and leaders answering dispatches on their
phones, and a duty officer verifying and closing — all through the REST API, as real ones do.

A dispatch on ``grid/workers/{id}/alarms`` starts a *walk* of its incident along the closed
loop: 接单 → 到场 → 处置反馈 by the person dispatched, then 任务核查 → 归档 by the officer, with
the policy's delays. A station's dispatch (``grid/stations/{id}/alarms``) only turns its crew
out: stations hold no API token, so the worker's arrival note records them. A walk ends early
when the gateway moved the incident on without it — closed on its clear rule (recovered) or
absorbed into a building fire (superseded) — which the API answers with 409.

The officer also closes self-test incidents (they go to installers only and would otherwise
wait out their expiry), and open incidents left by an earlier run are walked on from where
they stand, so a demo run again on the same data does not inherit a stale list.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from gateway.incidents.model import Action
from gateway.sim.response import Dispatch, ResponsePolicy
from gateway.sim.tokens import Tokens, issue_tokens, revoke_tokens

log = logging.getLogger(__name__)

WORKER_STEPS = (Action.ACK, Action.ARRIVE, Action.HANDLE)
LOOP = (*WORKER_STEPS, Action.VERIFY, Action.CLOSE)
REACHED = ("accepted_at", "on_site_at", "handled_at", "verified_at")  # LOOP's steps, done
TEST_SWEEP_S = 10.0
RESUME_LIMIT = 1000

JsonObject = dict[str, Any]
Narrate = Callable[[str], None]


@dataclass(slots=True)
class Walk:
    """One incident on its way round the loop, and who is walking it."""

    incident_id: str
    person: str
    kind: str
    device_id: str
    subject: str = ""


def remaining(view: Mapping[str, Any]) -> tuple[Action, ...]:
    """The loop's steps an incident (as ``GET /incidents`` shows it) still has to go."""
    if view.get("status") in ("reported", "closed"):
        return ()  # never dispatched (nobody to walk it), or done
    done = sum(1 for _ in itertools.takewhile(lambda k: view.get(k) is not None, REACHED))
    steps = LOOP[done:]
    if view.get("status") == "escalated" and steps[:1] != (Action.ACK,):
        steps = (Action.ACK, *steps)  # acknowledges the escalation: the reminders stop
    return steps


class Responders:
    """``async with Responders(http, people) as crew:`` — ``http`` carries the admin token and
    the ``/api/v1`` base URL; feed it the MQTT messages of :attr:`topics` via :meth:`receive`.

    ``names`` (device id → name, e.g. ``4号楼9层厨房``) tells a worker which room it is in;
    ``ends_at`` (on ``clock``) is when the run stops, for the policy's unanswered alarm.
    """

    topics = ("grid/workers/+/alarms", "grid/stations/+/alarms")

    def __init__(
        self,
        http: httpx.AsyncClient,
        people: Iterable[str],
        policy: ResponsePolicy | None = None,
        *,
        names: Mapping[str, str] | None = None,
        narrate: Narrate | None = None,
        ends_at: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        test_sweep_s: float = TEST_SWEEP_S,
    ) -> None:
        self._http = http
        self._people = list(people)
        self._policy = policy or ResponsePolicy()
        self._names = names or {}
        self._narrate = narrate
        self._ends_at = ends_at
        self._clock = clock
        self._test_sweep_s = test_sweep_s
        self._tokens = Tokens()
        self._walks: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stations: dict[str, tuple[str, float | None]] = {}
        self._left: set[str] = set()  # incidents a worker lets ring out

    @property
    def walking(self) -> frozenset[str]:
        """The incidents someone is on right now."""
        return frozenset(self._walks)

    def receive(self, topic: str, payload: bytes) -> None:
        """One message from a phone's or a station's topic."""
        dispatch = Dispatch.parse(topic, payload)
        if dispatch is None or dispatch.test:
            return
        incident_id = dispatch.incident_id
        if dispatch.station:
            self._stations[incident_id] = (dispatch.recipient, dispatch.distance_m)
            return
        if incident_id in self._walks or dispatch.recipient not in self._tokens.workers:
            return  # someone is on it already, or the phone is nobody we play
        if incident_id in self._left and dispatch.escalation_level == 0:
            return
        if not self._policy.answers(dispatch, self._clock(), self._ends_at):
            self._left.add(incident_id)
            self._say(
                f"{dispatch.recipient} does not answer {incident_id} "
                f"({dispatch.kind} at {dispatch.device_id}): its time limit will escalate it"
            )
            return
        walk = Walk(incident_id, dispatch.recipient, dispatch.kind, dispatch.device_id)
        self._start(walk, LOOP)

    def _say(self, line: str) -> None:
        if self._narrate is not None:
            self._narrate(line)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _start(self, walk: Walk, steps: tuple[Action, ...]) -> None:
        task = self._spawn(self._walk(walk, steps))
        self._walks[walk.incident_id] = task

        def done(_: asyncio.Task[None]) -> None:
            if self._walks.get(walk.incident_id) is task:
                del self._walks[walk.incident_id]
            self._stations.pop(walk.incident_id, None)

        task.add_done_callback(done)

    async def _walk(self, walk: Walk, steps: tuple[Action, ...]) -> None:
        for action in steps:
            await asyncio.sleep(self._policy.delay(action, walk.kind))
            view = await self._act(walk.incident_id, action, self._body(walk, action), walk.person)
            if view is None:
                return
            walk.subject = str(view.get("subject", walk.subject))

    def _body(self, walk: Walk, action: Action) -> JsonObject:
        body: JsonObject = {"action": action.value}
        if action is Action.ACK:
            body["note"] = "收到 on my way"
        elif action is Action.ARRIVE:
            station = self._stations.get(walk.incident_id)
            body["note"] = "到场 on site" + (
                f", 微型消防站 {station[0]} 同到 with the {station[0]} crew" if station else ""
            )
        elif action is Action.HANDLE:
            place = self._names.get(walk.device_id, "")
            finding = self._policy.finding(walk.kind, walk.subject, place)
            body |= {"outcome": finding.outcome.value, "note": finding.note}
        elif action is Action.VERIFY:
            body["note"] = "电话回访, 情况属实 call-back: confirmed"
        else:
            body["note"] = "归档 archived"
        return body

    async def _act(
        self, incident_id: str, action: Action, body: JsonObject, person: str
    ) -> JsonObject | None:
        """The incident as it now stands; None when the walk should stop here."""
        worker = action in WORKER_STEPS
        secret = self._tokens.workers[person] if worker else self._tokens.officer
        try:
            response = await self._http.post(
                f"/incidents/{incident_id}/actions",
                json=body,
                headers={"Authorization": f"Bearer {secret}"},
            )
        except httpx.HTTPError as exc:
            log.warning("simulator: %s on %s failed: %s", action.value, incident_id, exc)
            return None
        if response.status_code in (httpx.codes.NOT_FOUND, httpx.codes.CONFLICT):
            # Moved on without us (recovered, superseded, taken by someone else): expected.
            log.debug("simulator: %s on %s refused: %s", action.value, incident_id, response.text)
            return None
        if not response.is_success:
            log.warning(
                "simulator: %s on %s answered %s: %s",
                action.value,
                incident_id,
                response.status_code,
                response.text[:300],
            )
            return None
        view: JsonObject = response.json()
        return view

    async def _sweep_tests(self) -> None:
        """The officer closes self-test incidents (自检) once they have been seen."""
        officer = {"Authorization": f"Bearer {self._tokens.officer}"}
        params = {"open": "true", "test": "true"}
        close = {"action": "close", "outcome": "test", "note": "自检, 已确认 self-test noted"}
        while True:
            await asyncio.sleep(self._test_sweep_s)
            try:
                response = await self._http.get("/incidents", params=params, headers=officer)
            except httpx.HTTPError as exc:
                log.warning("simulator: listing test incidents failed: %s", exc)
                continue
            for view in response.json() if response.is_success else []:
                await self._act(str(view["id"]), Action.CLOSE, close, "")

    async def _resume(self) -> None:
        params = {"open": "true", "test": "false", "limit": str(RESUME_LIMIT)}
        response = await self._http.get("/incidents", params=params)
        if not response.is_success:
            log.warning("simulator: open incidents not listed: %s", response.status_code)
            return
        resumed = 0
        for view in response.json():
            person, steps = view.get("worker_id"), remaining(view)
            if person in self._tokens.workers and steps:
                walk = Walk(view["id"], person, view["kind"], view["device_id"], view["subject"])
                self._start(walk, steps)
                resumed += 1
        if resumed:
            self._say(f"walking on {resumed} incidents left open by an earlier run")

    async def __aenter__(self) -> Self:
        self._tokens = await issue_tokens(self._http, self._people)
        self._spawn(self._sweep_tests())
        await self._resume()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await revoke_tokens(self._http, self._tokens)
