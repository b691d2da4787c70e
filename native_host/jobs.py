"""The job queue: one bounded queue for all clients, one worker that runs the engine on one
device thread, per-job timeout and cancel. Every method runs on the daemon's event loop;
only the engine call itself (and model loading) runs on the device thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cloaker.errors import CancelledError, CloakerError, ModelError
from cloaker.imageio import check_header
from native_host.protocol import ProtocolError, error, message

if TYPE_CHECKING:
    from cloaker.engine import CloakResult  # the engine module may import torch

log = logging.getLogger(__name__)


LOAD_FAILED = "the face models could not be loaded; the daemon's log says why"
# How a job that was stopped ends (error name -> message for the user).
ENDED = {
    "cancelled": "the job was cancelled",
    "shutting_down": "the daemon is quitting; the photo was not cloaked",
    "timeout": "the job was stopped: it ran over the daemon's time limit (job_timeout_s)",
}


@dataclass(frozen=True)
class Limits:
    """Daemon limits, reported in ``status`` so clients can check before sending."""

    max_image_bytes: int = 50 * 1024 * 1024  # under the engine's 64 MiB and the transport's
    max_pixels: int = 50_000_000  # = cloaker.imageio.DEFAULT_MAX_PIXELS (a test checks)
    queue_size: int = 64
    job_timeout_s: float = 180.0


class EngineLike(Protocol):
    """The part of ``cloaker.engine.Engine`` the daemon uses (see its contract)."""

    def warm(self) -> None: ...

    def cloak_bytes(
        self,
        data: bytes,
        mode: str = ...,
        progress: Callable[[float, str], None] | None = ...,
        cancel: threading.Event | None = ...,
        seed: int | None = ...,
    ) -> CloakResult: ...


class Sink(Protocol):
    """Where a job's events go (a connected client)."""

    def send(self, msg: dict[str, Any], payload: bytes | None = None) -> None: ...


def check_image(data: bytes, limits: Limits) -> None:
    """Enforce the byte and pixel limits before any decoding (the header is parsed only),
    with the same checks and messages as the engine's decoder."""
    if len(data) > limits.max_image_bytes:
        raise ProtocolError(
            "image_too_large",
            f"the file is {len(data):,} bytes, over the daemon's limit of "
            f"{limits.max_image_bytes:,} bytes ({limits.max_image_bytes / 2**20:g} MiB, "
            "max_image_bytes)",
        )
    try:
        check_header(data, max_pixels=limits.max_pixels, max_bytes=limits.max_image_bytes)
    except CloakerError as exc:
        raise ProtocolError(exc.code, exc.message) from exc


@dataclass(eq=False)
class Job:
    """One cloak request."""

    request_id: str
    sink: Sink
    data: bytes
    name: str
    site: str
    cancel: threading.Event = field(default_factory=threading.Event)  # seen by the engine
    stopped: asyncio.Event = field(default_factory=asyncio.Event)  # seen by the event loop
    end_reason: str | None = None  # error name chosen by whoever stopped the job
    done: bool = False

    def stop(self, reason: str) -> None:
        """Ask the job to end with error ``reason`` (first reason wins). Loop thread only."""
        if self.end_reason is None:
            self.end_reason = reason
        self.cancel.set()
        self.stopped.set()


class EngineHost:
    """Creates and warms the engine on the device thread, in the background."""

    def __init__(self, factory: Callable[[], EngineLike], executor: Executor) -> None:
        self._factory = factory
        self._executor = executor
        self._future: asyncio.Future[EngineLike] | None = None
        self.device = "unknown"

    def start(self) -> None:
        self._future = asyncio.get_running_loop().run_in_executor(self._executor, self._load)
        self._future.add_done_callback(self._loaded)

    def _load(self) -> EngineLike:
        started = time.monotonic()
        try:
            engine = self._factory()
            engine.warm()
        except CloakerError:
            raise
        except Exception as exc:
            log.exception("the engine failed to load")
            raise ModelError(LOAD_FAILED) from exc
        self.device = str(getattr(engine, "device", "unknown"))
        log.info("engine ready on %s after %.1f s", self.device, time.monotonic() - started)
        return engine

    @staticmethod
    def _loaded(future: asyncio.Future[EngineLike]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.error("models unavailable: %s", future.exception())

    @property
    def state(self) -> str:
        if self._future is None or not self._future.done():
            return "warming"
        return "failed" if self._future.exception() is not None else "ready"

    @property
    def error(self) -> CloakerError | None:
        if self.state != "failed":
            return None
        exc = self._future.exception() if self._future else None
        return exc if isinstance(exc, CloakerError) else ModelError(LOAD_FAILED)

    async def get(self) -> EngineLike:
        """The warm engine; waits while warming; raises the load error if it failed."""
        if self._future is None:
            raise ModelError("the engine was never started")
        return await asyncio.shield(self._future)


class JobQueue:
    """Bounded FIFO of jobs plus the single worker that drains it."""

    def __init__(
        self,
        engine: EngineHost,
        executor: Executor,
        limits: Limits,
        mode: Callable[[], str],
        on_activity: Callable[[int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._on_activity = on_activity
        self._executor = executor
        self._limits = limits
        self._mode = mode
        self._pending: deque[Job] = deque()
        self._wakeup = asyncio.Event()
        self.running: Job | None = None
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._pending)

    def submit(self, job: Job) -> None:
        """Queue a job or raise ``busy`` / ``shutting_down``."""
        if self._closed:
            raise ProtocolError("shutting_down", ENDED["shutting_down"], job.request_id)
        ahead = len(self._pending) + (self.running is not None)
        if ahead >= self._limits.queue_size:
            raise ProtocolError(
                "busy",
                f"the daemon is busy: {ahead} photos are waiting or being cloaked (limit "
                f"{self._limits.queue_size}, queue_size); try again in a moment",
                job.request_id,
            )
        self._pending.append(job)
        job.sink.send(progress(job, 0.0, "queued", position=ahead))
        self._wakeup.set()
        self._activity()

    def cancel(self, job: Job, reason: str) -> None:
        """End a job early: a queued one at once, a running one at the engine's next step."""
        job.stop(reason)
        if job in self._pending:
            self._pending.remove(job)
            self._finish_error(job, reason, ENDED[reason])
            self._activity()

    async def close(self, grace_s: float = 0.5) -> None:
        """Refuse new jobs, end every job with ``shutting_down``; the running one gets
        ``grace_s`` to stop at the engine's next step, then its client is told anyway (the
        engine call is left to the device thread, which dies with the process)."""
        self._closed = True
        for job in list(self._pending):
            self.cancel(job, "shutting_down")
        running = self.running
        if running is not None:
            running.stop("shutting_down")
            deadline = time.monotonic() + grace_s
            while not running.done and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            self._finish_error(running, "shutting_down", ENDED["shutting_down"])

    async def run(self) -> None:
        """The worker: forever take the next job and run it; a job never kills the worker."""
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            job = self._pending.popleft()
            self.running = job
            try:
                await self._run(job)
            except Exception:
                log.exception("job %s failed unexpectedly", job.request_id)
                self._finish_error(job, "internal", "unexpected failure; see the daemon log")
            finally:
                self.running = None
                self._activity()

    def _activity(self) -> None:
        """Tell the listener how many jobs are in hand (queued or running); the tray shows it."""
        if self._on_activity is not None:
            self._on_activity(len(self._pending) + (self.running is not None))

    async def _run(self, job: Job) -> None:
        if self._engine.state == "warming":
            job.sink.send(progress(job, 0.0, "warming"))
        engine_task = asyncio.ensure_future(self._engine.get())
        stop_task = asyncio.ensure_future(job.stopped.wait())
        await asyncio.wait({engine_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        if job.end_reason is not None:
            engine_task.cancel()
            self._finish_error(job, job.end_reason, ENDED[job.end_reason])
            return
        try:
            engine = engine_task.result()
        except CloakerError as exc:
            self._finish_error(job, exc.code, exc.message)
            return
        await self._cloak(engine, job)

    async def _cloak(self, engine: EngineLike, job: Job) -> None:
        loop = asyncio.get_running_loop()
        report = _Throttle(
            lambda f, s: loop.call_soon_threadsafe(job.sink.send, progress(job, f, s))
        )
        mode = self._mode()
        log.info(
            "job %s: %s (%d bytes) from %s, mode %s",
            job.request_id,
            job.name,
            len(job.data),
            job.site,
            mode,
        )
        future = loop.run_in_executor(
            self._executor,
            lambda: engine.cloak_bytes(job.data, mode=mode, progress=report, cancel=job.cancel),
        )
        try:
            result = await asyncio.wait_for(asyncio.shield(future), self._limits.job_timeout_s)
        except TimeoutError:
            job.stop("timeout")
            self._finish_error(
                job,
                "timeout",
                f"the job was stopped: it ran over the daemon's time limit of "
                f"{self._limits.job_timeout_s:g} s (job_timeout_s)",
            )
            await _drain(future, job)
            return
        except CancelledError:
            reason = job.end_reason or "cancelled"
            self._finish_error(job, reason, ENDED.get(reason, ENDED["cancelled"]))
            return
        except CloakerError as exc:
            if exc.__cause__ is not None:  # the technical cause, for the log only
                log.info("job %s: %s, caused by %r", job.request_id, exc.code, exc.__cause__)
            self._finish_error(job, job.end_reason or exc.code, exc.message)
            return
        if job.end_reason is not None:  # finished before it noticed the cancel
            self._finish_error(job, job.end_reason, ENDED[job.end_reason])
            return
        job.done = True
        reply = result_message(job.request_id, result)
        log.info(
            "job %s: %s, %d faces, %.2f s, %d bytes, sha256 %s",
            job.request_id,
            result.status,
            result.faces,
            result.seconds,
            len(result.data),
            reply["data"]["sha256"],
        )
        job.sink.send(reply, result.data)

    def _finish_error(self, job: Job, name: str, text: str) -> None:
        if job.done:
            return
        job.done = True
        log.info("job %s ended: %s (%s)", job.request_id, name, text)
        job.sink.send(error(job.request_id, name, text))


async def _drain(future: asyncio.Future[CloakResult], job: Job) -> None:
    """Wait for an engine call that overran its timeout, so jobs never overlap on the device."""
    try:
        await future
    except CloakerError as exc:
        log.info("job %s stopped after its timeout (%s)", job.request_id, exc.code)
    else:
        log.info("job %s finished after its timeout; result dropped", job.request_id)


class _Throttle:
    """Engine progress callback: monotone fractions, at most ~10 events/s plus stage changes."""

    def __init__(self, emit: Callable[[float, str], Any], interval_s: float = 0.1) -> None:
        self._emit = emit
        self._interval = interval_s
        self._last_time = 0.0
        self._last_stage = ""
        self._fraction = 0.0

    def __call__(self, fraction: float, stage: str) -> None:
        now = time.monotonic()
        self._fraction = max(self._fraction, min(max(float(fraction), 0.0), 1.0))
        if stage != self._last_stage or now - self._last_time >= self._interval:
            self._last_stage, self._last_time = stage, now
            self._emit(self._fraction, stage)


def progress(job: Job, fraction: float, stage: str, **extra: Any) -> dict[str, Any]:
    return message("progress", job.request_id, {"fraction": fraction, "stage": stage, **extra})


def result_message(request_id: str, result: CloakResult) -> dict[str, Any]:
    return message(
        "result",
        request_id,
        {
            "status": result.status,
            "mime": result.mime,
            "faces": result.faces,
            "seconds": round(result.seconds, 3),
            "width": result.width,
            "height": result.height,
            "size": len(result.data),
            "sha256": hashlib.sha256(result.data).hexdigest(),
        },
    )
