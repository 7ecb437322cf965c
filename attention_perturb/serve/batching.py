import queue
import threading
from collections import Counter
from concurrent.futures import Future
from typing import Callable, Generic, List, Sequence, Tuple, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_STOP = object()


class MicroBatcher(Generic[Item, Result]):
    """
    Runs `handle` on one worker thread over whatever items are waiting when it is free: the
    requests that arrive while a batch runs go together into the next one, so that under load each
    model makes one pass per batch instead of one per request, and a lone request waits for nothing.
    `submit` returns a future of the item's result; an exception `handle` raises fails every
    future of its batch and the worker goes on with the next.

    # Parameters

    handle : `Callable[[Sequence[Item]], List[Result]]`
        One result per item, in order.
    max_batch : `int`, optional (default = `64`)
    """

    def __init__(self, handle: Callable[[Sequence[Item]], List[Result]], max_batch: int = 64) -> None:
        self._handle = handle
        self._max_batch = max_batch
        self._waiting: "queue.Queue" = queue.Queue()
        self.batch_sizes: Counter = Counter()  # batches run, by size: the load benchmark reports them
        self._worker = threading.Thread(target=self._work, name="serve-compare-batcher", daemon=True)
        self._worker.start()

    def submit(self, item: Item) -> "Future[Result]":
        future: "Future[Result]" = Future()
        self._waiting.put((item, future))
        return future

    def close(self) -> None:
        self._waiting.put(_STOP)
        self._worker.join()

    def _next_batch(self) -> List[Tuple[Item, "Future[Result]"]]:
        batch = [self._waiting.get()]
        while batch[-1] is not _STOP and len(batch) < self._max_batch:
            try:
                batch.append(self._waiting.get_nowait())
            except queue.Empty:
                break
        return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            stopping = batch[-1] is _STOP
            batch = [entry for entry in batch if entry is not _STOP]
            if batch:
                self._run(batch)
            if stopping:
                return

    def _run(self, batch: List[Tuple[Item, "Future[Result]"]]) -> None:
        self.batch_sizes[len(batch)] += 1
        try:
            results = self._handle([item for item, _ in batch])
        except Exception as error:  # noqa: BLE001 - handed to each waiting request, which re-raises it
            for _, future in batch:
                future.set_exception(error)
            return
        for (_, future), result in zip(batch, results):
            future.set_result(result)
