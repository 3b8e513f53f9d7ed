"""A layout page for real-browser tests: a moving clock and a steady tone, served on localhost.

It stands for OpenVidu's session layout: something that always moves and always sounds, so
that a black, frozen or silent span in a recording is a fault, not content. `freeze()` hangs
the page that is open (it polls `/state`; the first page to read it stops drawing for good),
as a wedged layout would: a reload brings a page that draws again.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>layout</title>
<style>html,body{margin:0;overflow:hidden;background:#123}</style></head>
<body><canvas id="c"></canvas>
<script>
const canvas = document.getElementById('c');
canvas.width = innerWidth; canvas.height = innerHeight;
const g = canvas.getContext('2d');
let frozen = false, hue = 0;
function draw() {
  if (!frozen) {
    hue = (hue + 2) % 360;
    g.fillStyle = `hsl(${hue},60%,25%)`; g.fillRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = '#fff'; g.font = `${Math.round(canvas.height / 6)}px sans-serif`;
    g.fillText(new Date().toISOString().slice(11, 23), canvas.width / 12, canvas.height / 2);
  }
  requestAnimationFrame(draw);
}
draw();
const poll = setInterval(async () => {
  try {
    if ((await (await fetch('/state')).text()) === 'frozen') { frozen = true; clearInterval(poll); }
  } catch (e) {}
}, 200);
const audio = new AudioContext();
const tone = audio.createOscillator(); tone.frequency.value = 440;
const level = audio.createGain(); level.gain.value = 0.3;
tone.connect(level).connect(audio.destination); tone.start();
</script></body></html>
"""


class TestPage:
    """`url` is the layout; `freeze()` hangs the page that has it open."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._freeze = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/layout"

    def up(self) -> TestPage:
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/state"):
                    hang = page._freeze.is_set()
                    page._freeze.clear()  # one page hangs; the next one loaded draws
                    body, kind = (b"frozen" if hang else b"moving"), "text/plain"
                else:
                    body, kind = PAGE, "text/html"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="test-page", daemon=True).start()
        return self

    def freeze(self) -> None:
        self._freeze.set()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
