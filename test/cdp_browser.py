"""A tiny Chrome DevTools Protocol client: headless Chromium driven over tornado's websocket client.

Enough for the page tests and no more: open a page, navigate, evaluate JavaScript, wait for a
condition, emulate a phone's width, press keys, take a screenshot, and collect every console
error (console.error calls, uncaught exceptions, and the browser's own error log: failed loads,
Content-Security-Policy violations). Every wait is bounded and the browser is always killed.

Usage:
    with ChromiumPage(binary, tmp_path / "profile") as page:
        page.navigate(url)
        page.wait_for("document.body.dataset.state === 'ready'")
        assert page.console_errors == []
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tornado.websocket import WebSocketClientConnection, websocket_connect

from test.integration.test_doc_browser import CHROMIUM_FLAGS

DEVTOOLS_LINE = re.compile(rb"DevTools listening on (ws://\S+)")
# The doc test's flags, without those of a one-shot --dump-dom run: this browser stays up.
FLAGS = [flag for flag in CHROMIUM_FLAGS if not flag.startswith(("--virtual-time-budget", "--dump-dom"))]
# Key events as Input.dispatchKeyEvent takes them (DOM key, code and Windows virtual key code).
KEYS = {
    "Tab": {"key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9},
    "Enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
}
SCREENSHOT_BYTES = 64 * 1024 * 1024


class CdpError(RuntimeError):
    """The browser answered a command with an error, did not start, or did not answer in time."""


class ChromiumPage:
    """One page of a headless Chromium started for it; a context manager.

    Args:
        binary: The Chromium executable.
        profile_dir: A fresh directory for the browser's profile (`--user-data-dir`); its log goes there too.
        timeout_s: The longest any single step (start, command, navigation) may take.
    """

    def __init__(self, binary: str, profile_dir: Path, timeout_s: float = 30.0) -> None:
        self._binary = binary
        self._profile = profile_dir
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._process: subprocess.Popen | None = None
        self._socket: WebSocketClientConnection | None = None
        self._session: str | None = None
        self._ids = itertools.count(1)
        self.console_errors: list[str] = []

    def __enter__(self) -> ChromiumPage:
        try:
            self._run(self._start())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection, kill the browser with its helper processes, and wait for it (at most 10 s)."""
        if self._socket is not None and not self._loop.is_closed():
            self._run(self._disconnect())
        if self._process is not None:
            # The browser leads a process group of its own (renderers, GPU and zygote helpers included).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(10)
        if not self._loop.is_closed():
            self._loop.close()

    # The page

    def navigate(self, url: str) -> None:
        """Load `url` and wait until its document has loaded.

        Raises:
            CdpError: The navigation failed or took longer than the timeout.
        """
        answer = self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise CdpError(f"navigating to {url}: {answer['errorText']}")
        self.wait_for(f"document.readyState === 'complete' && location.href === {json.dumps(url)}")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited, JSON-serialisable values).

        Raises:
            CdpError: The expression threw, or the page has no document to evaluate it in.
        """
        answer = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in answer:
            raise CdpError(f"{expression!r} threw: {_exception_text(answer['exceptionDetails'])}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float | None = None, poll_s: float = 0.1) -> Any:
        """Poll `expression` until it is truthy, and return its value.

        Evaluation errors while a new document loads count as falsy.

        Raises:
            AssertionError: It stayed falsy for `timeout_s` (default: the page's timeout); the message
                says its last value and the console errors so far.
        """
        deadline = time.monotonic() + (timeout_s or self._timeout_s)
        last: Any = None
        while True:
            try:
                last = self.evaluate(expression)
            except CdpError as exc:
                last = exc
            if last and not isinstance(last, CdpError):
                return last
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {expression!r}; last value {last!r}; console errors {self.console_errors}"
                )
            self.pause(poll_s)

    def set_viewport(self, width: int, height: int, mobile: bool = False, scale: float = 1.0) -> None:
        """Emulate a screen of `width` x `height` CSS pixels (a phone with `mobile`)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
        )

    def press(self, key: str) -> None:
        """Press and release `key` ("Tab" or "Enter") in the focused element."""
        down = {**KEYS[key], "type": "keyDown" if "text" in KEYS[key] else "rawKeyDown"}
        self.send("Input.dispatchKeyEvent", down)
        self.send("Input.dispatchKeyEvent", {**KEYS[key], "type": "keyUp"})

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page (beyond the viewport too) to `path`."""
        answer = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(answer["data"]))
        return path

    def pause(self, seconds: float) -> None:
        """Let `seconds` pass while the browser's events (console errors) are collected."""
        self._run(self._drain(seconds))

    # The protocol

    def send(self, method: str, params: dict | None = None) -> dict:
        """Send one command to the page and return its result.

        Raises:
            CdpError: The browser answered with an error, or not within the timeout.
        """
        return self._run(self._command(method, params or {}, self._session))

    def _run(self, coroutine: Any) -> Any:
        return self._loop.run_until_complete(coroutine)

    async def _start(self) -> None:
        self._profile.mkdir(parents=True, exist_ok=True)
        log = self._profile / "chromium.log"
        with log.open("wb") as stderr:
            self._process = subprocess.Popen(
                [self._binary, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={self._profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        url = await self._devtools_url(log)
        self._socket = await asyncio.wait_for(
            websocket_connect(url, max_message_size=SCREENSHOT_BYTES), self._timeout_s
        )
        target = await self._command("Target.createTarget", {"url": "about:blank"}, None)
        attached = await self._command("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, None)
        self._session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            await self._command(f"{domain}.enable", {}, self._session)

    async def _disconnect(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        await asyncio.sleep(0)  # lets the close frame go out

    async def _devtools_url(self, log: Path) -> str:
        # Chromium prints the browser's websocket URL on stderr once it listens.
        deadline = time.monotonic() + self._timeout_s
        while time.monotonic() < deadline:
            found = DEVTOOLS_LINE.search(log.read_bytes())
            if found:
                return found.group(1).decode()
            if self._process is not None and self._process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        tail = log.read_bytes()[-2000:].decode(errors="replace")
        raise CdpError(f"chromium gave no DevTools URL within {self._timeout_s} s; its log ends:\n{tail}")

    async def _command(self, method: str, params: dict, session: str | None) -> dict:
        if self._socket is None:
            raise CdpError("not connected")
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._socket.write_message(json.dumps(message))
        deadline = time.monotonic() + self._timeout_s
        while True:
            answer = await self._receive(deadline - time.monotonic(), method)
            if answer.get("id") == message_id:
                if "error" in answer:
                    raise CdpError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            self._on_event(answer)

    async def _drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self._on_event(await self._receive(deadline - time.monotonic(), "events"))
            except CdpError:
                return

    async def _receive(self, timeout_s: float, waiting_for: str) -> dict:
        if self._socket is None:
            raise CdpError("not connected")
        try:
            raw = await asyncio.wait_for(self._socket.read_message(), max(timeout_s, 0.001))
        except TimeoutError as exc:
            raise CdpError(f"no answer to {waiting_for} in time") from exc
        if raw is None:
            self._socket = None
            raise CdpError(f"the browser closed the connection while waiting for {waiting_for}")
        return json.loads(raw)

    def _on_event(self, event: dict) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            args = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            self.console_errors.append(f"console.error: {args}")
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append(f"uncaught: {_exception_text(params.get('exceptionDetails', {}))}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.console_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())


def _exception_text(details: dict) -> str:
    exception = details.get("exception", {})
    return exception.get("description") or details.get("text", "unknown exception")
