"""Retraining jobs started over the API: `main_train.py` in a process of its own, one at a time.

A job is a directory `paths.jobs_dir/<job id>/` holding `job.json` (its state), `log.txt` (the
training's output) and `report.json` (what the training reports: version, gate, promotion).
The candidate goes through the same gate as any training; the service picks a new live version
up at its next check of the registry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import secrets
import subprocess
import threading
from pathlib import Path

from domain.errors import JobConflictError, UnknownJobError
from utils.files import write_atomic

LOGGER = logging.getLogger(__name__)

JOB_ID_PATTERN = r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}"
LOG_TAIL_LINES = 30
# main_train.py's exit codes.
OUTCOMES = {0: "succeeded", 3: "refused"}


@dataclasses.dataclass(frozen=True)
class RetrainJob:
    """A retraining job as `GET /retrain/{job_id}` shows it.

    Attributes:
        job_id: Its id (UTC start time and a random suffix).
        state: running, succeeded (trained and live), refused (trained, the gate kept live),
            failed, or lost (the service stopped while it ran).
        started: UTC start time.
        finished: UTC end time, when it ended.
        exit_code: `main_train.py`'s exit code, when it ended.
        log_tail: The last lines of its output.
        report: The training's report (registry version, gate, promotion), when it got that far.
    """

    job_id: str
    state: str
    started: str
    finished: str | None
    exit_code: int | None
    log_tail: str
    report: dict | None

    def as_json(self) -> dict:
        """JSON-ready form."""
        return dataclasses.asdict(self)


class RetrainService:
    """Starts and tracks retraining jobs."""

    def __init__(self, jobs_dir: Path, command: list[str]) -> None:
        """Args:
        jobs_dir: Where each job's directory goes.
        command: The training command (`python main_train.py --config FILE`); `--report` is added.
        """
        self._jobs_dir = jobs_dir
        self._command = command
        self._lock = threading.Lock()
        self._running: tuple[str, subprocess.Popen] | None = None

    def start(self) -> RetrainJob:
        """Start a job.

        Raises:
            JobConflictError: A job is running.
        """
        with self._lock:
            if self._running is not None and self._running[1].poll() is None:
                raise JobConflictError(f"retraining job {self._running[0]} is running; see /retrain/{self._running[0]}")
            job_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
            directory = self._jobs_dir / job_id
            directory.mkdir(parents=True)
            self._record(job_id, {"started": _now()})
            with (directory / "log.txt").open("w", encoding="utf-8") as log:
                process = subprocess.Popen(
                    [*self._command, "--report", str(directory / "report.json")],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # a signal to the service (Ctrl-C) does not kill the training
                )
            self._running = (job_id, process)
        threading.Thread(target=self._finish, args=(job_id, process), daemon=True, name=f"job-{job_id}").start()
        LOGGER.info("retraining job %s started (pid %d)", job_id, process.pid)
        return self.job(job_id)

    def job(self, job_id: str) -> RetrainJob:
        """A job's state.

        Raises:
            UnknownJobError: No job has this id.
        """
        directory = self._jobs_dir / job_id
        if not re.fullmatch(JOB_ID_PATTERN, job_id) or not (directory / "job.json").is_file():
            raise UnknownJobError(f"no retraining job {job_id}")
        record = json.loads((directory / "job.json").read_text(encoding="utf-8"))
        exit_code = record.get("exit_code")
        if exit_code is not None:
            state = OUTCOMES.get(exit_code, "failed")
        else:  # not ended yet, or the service that started it stopped before it ended
            state = "running" if self._running is not None and self._running[0] == job_id else "lost"
        report_file = directory / "report.json"
        return RetrainJob(
            job_id=job_id,
            state=state,
            started=record["started"],
            finished=record.get("finished"),
            exit_code=exit_code,
            log_tail=_tail(directory / "log.txt"),
            report=json.loads(report_file.read_text(encoding="utf-8")) if report_file.is_file() else None,
        )

    def _finish(self, job_id: str, process: subprocess.Popen) -> None:
        exit_code = process.wait()
        record = json.loads((self._jobs_dir / job_id / "job.json").read_text(encoding="utf-8"))
        self._record(job_id, {**record, "finished": _now(), "exit_code": exit_code})
        LOGGER.info("retraining job %s ended: %s", job_id, OUTCOMES.get(exit_code, f"failed (exit {exit_code})"))

    def _record(self, job_id: str, record: dict) -> None:
        write_atomic(self._jobs_dir / job_id / "job.json", json.dumps(record))


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").replace("\r", "\n").splitlines()
    except OSError:
        return ""
    return "\n".join(line for line in lines[-LOG_TAIL_LINES:] if line.strip())


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
