"""The load stream: N probes sent steadily through the whole drill — before, during and after the fault.

Three probes per phase show that mail flows; a stream shows that none is lost while the primary goes
down and comes back, with probes in flight at the moment it fails. The stream runs in a thread of its
own (its own event loop), so the drill's steps go on while it sends. It behaves like a sending MTA:
- at most `concurrency` probes in flight (Postfix: default_destination_concurrency_limit = 20), and
  the per-MX connection bound of `smtp.MX_CONCURRENCY` on top;
- a probe no MX took is retried after `retry_seconds`, as from a sender's queue, until accepted,
  refused for good (5xx) or the stream is stopped: an MX that is down is not a lost mail;
- an MX address that could not be reached is skipped for `dead_seconds` (Postfix keeps such a host
  out of use too), so a blackholed primary costs one connect timeout per stream, not one per probe.

The drill anchors the stream to its fault: it injects the fault once a third of the probes are sent and
heals once two thirds are, so every stream, fast or slow, spans before, during and after.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from mxdrill import smtp

MAX_LOAD = 100_000
SEQUENCE_BASE = 100_000  # load probe n is sequence SEQUENCE_BASE + n: clear of the phases' probes (≤ 1,000 a phase)


@dataclass(frozen=True)
class LoadSettings:
    """What --load / --rate / --load-concurrency ask for."""

    count: int
    rate: float | None = None  # probes per second; None: as fast as `concurrency` allows
    concurrency: int = smtp.MX_CONCURRENCY

    def describe(self) -> str:
        pace = f"{self.rate:g}/s" if self.rate else f"as fast as {self.concurrency} in flight allow"
        return f"{self.count} load probes ({pace}), a third before the fault, a third during, a third after"


@dataclass
class DeadAddresses:
    """MX addresses that did not answer, and until when they are skipped (monotonic seconds)."""

    seconds: float
    until: dict[str, float] = field(default_factory=dict)

    def alive(self, targets: list[smtp.MxTarget]) -> list[smtp.MxTarget]:
        """The targets to try now; never none: when every one is marked dead, all are tried."""
        now = time.monotonic()
        alive = [t for t in targets if self.until.get(t.address, 0.0) <= now]
        return alive or targets

    def note(self, delivery: smtp.Delivery) -> None:
        for attempt in delivery.attempts:
            if attempt.outcome == "unreachable":
                self.until[attempt.target.address] = time.monotonic() + self.seconds


@dataclass
class LoadStream:
    """Sends `settings.count` probes made by `make_probe(n)` (n from 1) through `deliver`, reporting each
    probe when it starts (`on_sent`) and every delivery attempt set as it ends (`on_delivery`)."""

    settings: LoadSettings
    make_probe: Callable[[int], smtp.Probe]
    deliver: Callable[[smtp.Probe, list[smtp.MxTarget]], Awaitable[smtp.Delivery]]
    targets: Callable[[], list[smtp.MxTarget]]
    on_sent: Callable[[smtp.Probe], None]
    on_delivery: Callable[[smtp.Delivery], None]
    retry_seconds: float = 0.5
    dead_seconds: float = 2.0
    sent: int = 0
    settled: int = 0  # probes accepted by an MX or refused for good
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="mxdrill-load", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as error:  # handed to the drill's thread by `finish`
            self._error = error

    async def _run(self) -> None:
        in_flight = asyncio.Semaphore(self.settings.concurrency)
        dead = DeadAddresses(self.dead_seconds)
        began = time.monotonic()
        tasks = []
        for number in range(1, self.settings.count + 1):
            if self.settings.rate:
                await self._sleep(began + (number - 1) / self.settings.rate - time.monotonic())
            await in_flight.acquire()
            if self._stop.is_set():
                in_flight.release()
                break
            probe = self.make_probe(number)
            self.on_sent(probe)
            self.sent += 1
            tasks.append(asyncio.create_task(self._send(probe, dead, in_flight)))
        await asyncio.gather(*tasks)

    async def _send(self, probe: smtp.Probe, dead: DeadAddresses, in_flight: asyncio.Semaphore) -> None:
        """Until an MX accepts it or refuses it for good, or the stream is stopped; then free the slot."""
        try:
            while True:
                delivery = await self.deliver(probe, dead.alive(self.targets()))
                dead.note(delivery)
                self.on_delivery(delivery)
                if delivery.accepted or any(a.outcome == "rejected" for a in delivery.attempts) or self._stop.is_set():
                    return
                await self._sleep(self.retry_seconds)
        finally:
            self.settled += 1
            in_flight.release()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake within 0.1 s of a stop."""
        end = time.monotonic() + max(seconds, 0.0)
        while not self._stop.is_set() and time.monotonic() < end:
            await asyncio.sleep(min(0.1, end - time.monotonic()))

    # --- what the drill's thread asks ------------------------------------------------------------

    def share_sent(self, fraction: float) -> bool:
        """Whether this fraction of the stream has been handed to the MXs (or the stream is over)."""
        return self.sent >= int(self.settings.count * fraction) or not self.running

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def finish(self, seconds: float) -> bool:
        """Wait up to `seconds` for every probe to be sent and settled; True when the stream ended.
        An error inside the stream is raised here, in the drill's thread."""
        if self._thread is not None:
            self._thread.join(seconds)
        if self._error is not None:
            raise self._error
        return not self.running

    def stop(self) -> None:
        """End the stream now (the drill failed or ended): no new probe, no new retry; in-flight ones finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30.0)
