"""The classifier in a process of its own (`DSR_BOT_CLASSIFIER_PROCESS=true`).

Why: in a backlog the classifier (model and rules) is about a third of intake's CPU, and
Python runs one thread at a time, so classifying the next batch in a thread while the
current one is decided gains nothing measurable. A second process does run beside the
deciding one, on a second core; intake hands it the next batch ahead (see
`MailboxWatcher._decide_pending`). The model then lives only in the worker.

The worker is a fresh interpreter (`python -m dsr_bot.classify.worker FD …`), not a
multiprocessing child: "spawn" re-imports the parent's main module (the whole CLI, and a
program without a main guard cannot start it at all) and adds a resource-tracker process;
"fork" would copy the parent's threads' locks. It loads the model once and answers batches
over a socket pair, framed as multiprocessing's `Connection` frames them. It ignores SIGINT
and SIGTERM: the parent ends it by closing the socket, after a graceful stop has finished
the batch in hand; if the parent dies, the closed socket ends the worker too.

A worker that dies (an out-of-memory kill, a crash in native code) is started again and
the batch sent once more. A batch that kills two workers in a row raises
`ClassifierUnavailable`: the batch is not decided, and intake's attempt count then isolates
the message that does it, as for any message that kills the process (pipeline.py).
"""

from __future__ import annotations

import atexit
import logging
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dsr_bot.cases.model import Classification

log = logging.getLogger(__name__)

# How long the parent waits for the worker to exit after closing its socket.
STOP_TIMEOUT = 5.0


class ClassifierUnavailable(RuntimeError):
    """The worker could not classify a batch (it failed to load, or died twice on it)."""


def serve(
    conn: Connection, threshold: float, review_low: float, model_dir: Path | None = None
) -> None:
    """The worker's main loop: load, say "ready", then answer each batch until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from dsr_bot.classify import load_classifier
    from dsr_bot.classify.base import classify_batch

    try:
        classifier = load_classifier(threshold, review_low, model_dir=model_dir)
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", type(classifier).__name__))
    while True:
        try:
            items = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", classify_batch(classifier, items))
        except Exception as exc:
            # The type only: an exception's text may quote the message.
            reply = ("error", type(exc).__name__)
        conn.send(reply)


class ProcessClassifier:
    """`Classifier` whose work is done by the worker process; safe from several threads
    (one batch at a time goes over the socket)."""

    # Intake classifies the next batch ahead only for a classifier that runs apart.
    apart = True

    def __init__(
        self,
        threshold: float,
        review_low: float,
        *,
        model_dir: Path | None = None,
        module: str = "dsr_bot.classify.worker",
    ) -> None:
        """`module`: what `python -m` runs as the worker; tests name one that dies on cue."""
        self._args = (threshold, review_low, model_dir)
        self._module = module
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._loaded = threading.Event()
        self._error: str | None = None
        self.starts = 0
        self._start()
        # An orderly end at exit as well; without it the worker still ends, on EOF.
        atexit.register(self.close)

    # -- the process --------------------------------------------------------------------
    def _start(self) -> None:
        threshold, review_low, model_dir = self._args
        ours, theirs = socket.socketpair()
        with theirs:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self._module,
                    str(theirs.fileno()),
                    repr(threshold),
                    repr(review_low),
                    str(model_dir or ""),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        conn = Connection(ours.detach())
        self._proc, self._conn = proc, conn
        log.info("classifier worker started (pid %s)", proc.pid)
        self._loaded.clear()
        self._error = None
        self.starts += 1
        # The model loads while the caller goes on (start-up, the IMAP login).
        threading.Thread(
            target=self._await_load, args=(conn,), name="model-load", daemon=True
        ).start()

    def _await_load(self, conn: Connection) -> None:
        try:
            kind, detail = conn.recv()
        except (EOFError, OSError) as exc:
            kind, detail = "failed", f"the worker exited while loading ({type(exc).__name__})"
        if kind != "ready":
            log.error("the classifier worker could not load the model (%s)", detail)
            self._error = str(detail)
        self._loaded.set()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            # Still loading: it reads no socket yet, and nothing it does is needed.
            try:
                self._proc.wait(STOP_TIMEOUT if self._loaded.is_set() else 0.01)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(STOP_TIMEOUT)
            self._proc = None

    # -- what intake sees ----------------------------------------------------------------
    def ready(self) -> None:
        """Block until the model is loaded; raises if it could not be."""
        self._loaded.wait()
        if self._error is not None:
            raise ClassifierUnavailable(f"the classifier could not be loaded: {self._error}")

    def check(self) -> tuple[bool, str]:
        if not self._loaded.is_set():
            return True, "loading (worker process)"
        if self._error is not None:
            return False, "not loaded (worker process)"
        return True, "loaded (worker process)"

    def classify(self, subject: str, text: str) -> Classification:
        return self.classify_batch([(subject, text)])[0]

    def classify_batch(self, items: Sequence[tuple[str, str]]) -> list[Classification]:
        if not items:
            return []
        with self._lock:
            for attempt in (1, 2):
                self.ready()
                assert self._conn is not None
                try:
                    self._conn.send(list(items))
                    kind, payload = self._conn.recv()
                except (EOFError, OSError):
                    exit_code = self._proc.poll() if self._proc is not None else None
                    log.error(
                        "the classifier worker died (exit code %s) on a batch of %d; "
                        "starting another (attempt %d of 2)",
                        exit_code,
                        len(items),
                        attempt,
                    )
                    self._stop()
                    self._start()
                    continue
                if kind == "error":
                    raise ClassifierUnavailable(f"the classifier raised {payload}")
                return list(payload)
        raise ClassifierUnavailable("the classifier worker died twice on one batch")


def main(argv: list[str]) -> None:
    fd, threshold, review_low, model_dir = argv[1:5]
    serve(
        Connection(int(fd)),
        float(threshold),
        float(review_low),
        Path(model_dir) if model_dir else None,
    )


if __name__ == "__main__":
    main(sys.argv)
