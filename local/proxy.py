"""A TCP proxy on localhost that a drill can cut: what sits between a media node's recorders and
the controller's API when the drill plays an API outage or a network partition.

`cut("refuse")` resets every connection, open or new (an API that refuses all traffic);
`cut("blackhole")` accepts and swallows, never answering (packets dropped on the way: the
caller waits for its own timeout). `restore()` lets traffic through again. S3 does not go
through it: a recorder cut off from the controller still reaches its bucket.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from typing import Literal

Cut = Literal["refuse", "blackhole"]


def _reset(connection: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a refusing peer does, not a polite FIN."""
    with contextlib.suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        connection.close()


class Proxy:
    def __init__(
        self, target_port: int, target_host: str = "127.0.0.1", listen_host: str = "127.0.0.1"
    ) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((listen_host, 0))
        self.port = self._listener.getsockname()[1]
        self.mode: Cut | None = None
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stopped = threading.Event()
        self.refused = 0  # connections reset or swallowed while cut

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> Proxy:
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()
        return self

    def cut(self, how: Cut = "refuse") -> None:
        with self._lock:
            self.mode = how
            open_now, self._open = self._open, set()
        for connection in open_now:
            _reset(connection)

    def restore(self) -> None:
        with self._lock:
            self.mode = None
            swallowed, self._open = self._open, set()
        for connection in swallowed:  # what the blackhole held: gone, as after a real partition
            _reset(connection)

    def down(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut("refuse")

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                mode = self.mode
                if mode == "blackhole":
                    self._open.add(client)  # held, never answered
            if mode is not None:
                self.refused += 1
                if mode == "refuse":
                    _reset(client)
                continue
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        with self._lock:
            if self.mode is not None:  # cut while connecting
                _reset(client)
                _reset(upstream)
                return
            self._open |= {client, upstream}
        peers = {client: upstream, upstream: client}
        selector = selectors.DefaultSelector()
        for end in peers:
            end.setblocking(False)
            selector.register(end, selectors.EVENT_READ)
        try:
            while not self._stopped.is_set():
                for key, _ in selector.select(timeout=0.5):
                    source = key.fileobj
                    assert isinstance(source, socket.socket)
                    data = source.recv(65536)
                    if not data:
                        return
                    peers[source].setblocking(True)
                    peers[source].sendall(data)
                    peers[source].setblocking(False)
        except OSError:
            return
        finally:
            selector.close()
            with self._lock:
                self._open -= {client, upstream}
            for end in (client, upstream):
                with contextlib.suppress(OSError):
                    end.close()
