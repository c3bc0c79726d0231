"""A provider endpoint that misbehaves on purpose, on loopback: the first part of its path picks how.

    http://127.0.0.1:<port>/<behaviour>/v1/realtime/client_secrets   (and .../v1/realtime/calls)

ok             a GA mint answer (an SDP answer on the calls path)
trickle-head   the response, one byte every 0.3 s, forever (it never gets past its headers)
trickle-body   whole headers (Content-Length: 1000), then the body one byte every 0.3 s
silent         reads the request, answers nothing
stall          whole headers (Content-Length: 100), then nothing
huge-chunked   a 50 MB chunked body, as fast as the client reads
huge-close     a 50 MB body without a length, ended by closing
huge-length    declares Content-Length: 50000000, sends 10 bytes, then nothing
hold           waits until the test calls release(), then answers as ok
"""

import contextlib
import json
import socketserver
import threading
import time

TRICKLE_SECONDS = 0.3
HUGE = 50 * 1024 * 1024
SDP_ANSWER = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def mint_answer():
    return json.dumps({
        "value": "ek_hostile_ok",
        "expires_at": int(time.time()) + 600,
        "session": {"type": "realtime", "object": "realtime.session", "id": "sess_ok", "model": "gpt-realtime"},
    }).encode()  # fmt: skip


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock, stop = self.request, self.server.stop
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                return
            head += data
        head, _, body = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
        while len(body) < length:
            body += sock.recv(65536)
        behaviour = path.strip("/").split("/")[0]
        self.server.requests.append(behaviour)
        with contextlib.suppress(OSError):  # the gateway hung up: what it should do
            getattr(self, behaviour.replace("-", "_"))(sock, stop, path)

    def ok(self, sock, stop, path):
        if path.endswith("/calls"):
            body = SDP_ANSWER.encode()
            extra = "Content-Type: application/sdp\r\nLocation: /v1/realtime/calls/rtc_ok\r\n"
        else:
            body, extra = mint_answer(), "Content-Type: application/json\r\n"
        sock.sendall(f"HTTP/1.1 200 OK\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def hold(self, sock, stop, path):
        self.server.held.release()
        while not self.server.releases.acquire(timeout=0.1):
            if stop.is_set():
                return
        self.ok(sock, stop, path)

    def trickle(self, sock, stop, data):
        for byte in data:
            if stop.wait(TRICKLE_SECONDS):
                return
            sock.sendall(bytes([byte]))

    def trickle_head(self, sock, stop, path):
        def endless():
            yield from b"HTTP/1.1 200 OK\r\nX-Slow: "
            while True:
                yield ord("a")

        self.trickle(sock, stop, endless())

    def trickle_body(self, sock, stop, path):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        self.trickle(sock, stop, b" " * 1000)

    def silent(self, sock, stop, path):
        stop.wait()

    def stall(self, sock, stop, path):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        stop.wait()

    def huge_chunked(self, sock, stop, path):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        for _ in range(HUGE // 65536):
            if stop.is_set():
                return
            sock.sendall(chunk)
        sock.sendall(b"0\r\n\r\n")

    def huge_close(self, sock, stop, path):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        for _ in range(HUGE // 65536):
            if stop.is_set():
                return
            sock.sendall(b" " * 65536)

    def huge_length(self, sock, stop, path):
        sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{"value": ')
        stop.wait()


class HostileUpstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.stop = threading.Event()
        self.requests = []
        self.held = threading.Semaphore(0)  # one per request holding
        self.releases = threading.Semaphore(0)
        self.port = self.server_address[1]

    def endpoint(self, behaviour):
        return f"http://127.0.0.1:{self.port}/{behaviour}/v1/realtime/client_secrets"

    def release(self):
        """Let one held request answer."""
        self.releases.release()

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()  # ends every trickle and stall
        self.shutdown()
        self.server_close()
