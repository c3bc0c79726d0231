"""A real HTTPS webhook server for tests: a throwaway CA (trustme) signs its certificate; the gateway trusts the CA
through SPEECH_TOOL_CA_BUNDLE. Paths choose the answer; every request is kept (body and headers)."""

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme


class WebhookServer:
    def __init__(self, tmp_path):
        self.ca = trustme.CA()
        self.ca_path = tmp_path / "tools-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.requests = []
        self.answers = {}  # path -> (status, body bytes, delay seconds)
        self.seen = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server convention)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with server.seen:
                    server.requests.append((self.path, body, dict(self.headers.items())))
                    server.seen.notify_all()
                status, answer, delay = server.answers.get(self.path, (404, b"{}", 0))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    if status in (301, 302, 307):
                        self.send_header("Location", f"https://localhost:{server.port}/ok")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the gateway gave up (its deadline)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"https://localhost:{self.port}{path}"

    def answer(self, path, value=None, *, status=200, delay=0, raw=None):
        body = raw if raw is not None else json.dumps(value).encode()
        self.answers[path] = (status, body, delay)

    def wait_for(self, count, seconds=10):
        with self.seen:
            assert self.seen.wait_for(lambda: len(self.requests) >= count, seconds), "no webhook request came"
        return self.requests[count - 1]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
