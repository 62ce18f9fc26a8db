"""The webhook endpoint the notifier delivers to in a chaos run: one path per channel
(``/hook/<channel>``), each of which can be told to fail (HTTP 500) or to hang (longer than the
notifier waits) for a while.

A delivery counts only when the answer reached a notifier that was still waiting: a request
the notifier gave up on (timeout) or that hit a 500 was not delivered, whatever the receiver
saw of it.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Mode(StrEnum):
    OK = "ok"
    FAIL = "fail"  # answers 500
    HANG = "hang"  # answers only after ``hang_s``


@dataclass(frozen=True)
class Delivery:
    channel: str
    key: str  # the notifier's Idempotency-Key: alert/state/tier/channel
    arrived_at: float  # time.time()


@dataclass
class Receiver:
    hang_s: float = 5.0
    port: int = 0
    delivered: list[Delivery] = field(default_factory=list)
    refused: int = 0
    _modes: dict[str, Mode] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def url(self, channel: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{channel}"

    def set_mode(self, channel: str, mode: Mode) -> None:
        with self._lock:
            self._modes[channel] = mode

    def mode(self, channel: str) -> Mode:
        with self._lock:
            return self._modes.get(channel, Mode.OK)

    def keys(self) -> list[str]:
        with self._lock:
            return [d.key for d in self.delivered]

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.delivered)

    def _record(self, delivery: Delivery | None) -> None:
        with self._lock:
            if delivery is None:
                self.refused += 1
            else:
                self.delivered.append(delivery)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                channel = self.path.rstrip("/").rpartition("/")[2]
                mode = receiver.mode(channel)
                if mode is Mode.HANG:
                    time.sleep(receiver.hang_s)
                    if self._peer_gone():
                        receiver._record(None)  # the notifier gave up: not delivered
                        return
                if mode is Mode.FAIL:
                    self._answer(500)
                    receiver._record(None)
                    return
                key = self.headers.get("Idempotency-Key", "")
                if self._answer(200):
                    receiver._record(Delivery(channel, key, time.time()))
                else:
                    receiver._record(None)

            def _peer_gone(self) -> bool:
                readable, _, _ = select.select([self.connection], [], [], 0)
                if not readable:
                    return False
                try:
                    return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
                except OSError:
                    return True

            def _answer(self, status: int) -> bool:
                """True if the whole answer went out (the notifier was still listening)."""
                body = b'{"ok": true}' if status == 200 else b'{"ok": false}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                except OSError:
                    return False
                return True

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name="chaos-hooks", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
