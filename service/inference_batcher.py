"""The model runs for concurrent forecasts together, in one batched pass.

An LSTM pass over one window costs nearly as much time per step as over many, so a thread of its
own takes every window waiting, runs them at once and hands each its flows. Nothing waits on
purpose: a forecast arriving while a pass runs joins the next one, so a lone forecast pays only
the hand-over and a crowd shares its passes.
"""

from __future__ import annotations

import dataclasses
import queue
import threading

import numpy as np

from model.predictor import ModelInputs, Predictor, use_threads


@dataclasses.dataclass
class _Job:
    predictor: Predictor
    inputs: ModelInputs
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    flows: np.ndarray | None = None
    error: BaseException | None = None


class InferenceBatcher:
    """Runs forecasts' windows on one thread, as many at once as are waiting (up to `max_batch`)."""

    def __init__(self, max_batch: int, torch_threads: int) -> None:
        """Args:
        max_batch: Most windows per pass.
        torch_threads: Threads torch may use for a pass.
        """
        self._max_batch = max_batch
        self._torch_threads = torch_threads
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run_forever, daemon=True, name="inference")
        self._thread.start()

    def run(self, predictor: Predictor, inputs: ModelInputs) -> np.ndarray:
        """`predictor.run(inputs)`, in a pass shared with the forecasts waiting beside it.

        Raises:
            Exception: What the model raised.
        """
        return self.run_many(predictor, [inputs])[0]

    def run_many(self, predictor: Predictor, inputs: list[ModelInputs]) -> list[np.ndarray]:
        """`predictor.run_many(inputs)`, in passes of at most `max_batch` windows.

        Raises:
            Exception: What the model raised.
        """
        jobs = [_Job(predictor, each) for each in inputs]
        for job in jobs:
            self._jobs.put(job)
        for job in jobs:
            job.done.wait()
            if job.error is not None:
                raise job.error
        return [job.flows for job in jobs]

    def _run_forever(self) -> None:
        # Torch's thread count is set per thread (OpenMP): a new thread would otherwise use every core.
        use_threads(self._torch_threads)
        while True:
            jobs = [self._jobs.get()]
            while len(jobs) < self._max_batch:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            # Beside a model swap, windows of two models can wait together: each model runs its own.
            for predictor in {id(job.predictor): job.predictor for job in jobs}.values():
                self._run([job for job in jobs if job.predictor is predictor])

    @staticmethod
    def _run(jobs: list[_Job]) -> None:
        try:
            for job, flows in zip(jobs, jobs[0].predictor.run_many([job.inputs for job in jobs]), strict=True):
                job.flows = flows
        except Exception as exc:  # handed to the callers, which answer for it
            for job in jobs:
                job.error = exc
        finally:
            for job in jobs:
                job.done.set()
