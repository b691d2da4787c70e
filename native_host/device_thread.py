"""A one-thread executor for the device (model loading and cloaking, one call at a time).

Unlike ``ThreadPoolExecutor`` its thread is a daemon thread, so quitting is never held up by
a model load or an engine call that is still running: the process exits and the OS frees it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

_STOP = object()


DEVICE_THREAD = "cloaker-device"


class DeviceThread(Executor):
    """Runs submitted calls in order on one daemon thread."""

    def __init__(self, name: str = DEVICE_THREAD) -> None:
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._shutdown = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._shutdown:
            raise RuntimeError("the device thread is shut down")
        future: Future[Any] = Future()
        self._calls.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
        if cancel_futures:
            while not self._calls.empty():
                item = self._calls.get_nowait()
                if item is not _STOP:
                    item[0].cancel()
        self._calls.put(_STOP)
        if wait:
            self._thread.join()

    def _work(self) -> None:
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the waiting coroutine, not swallowed
                future.set_exception(exc)
