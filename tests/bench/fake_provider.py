"""A fake OpenAI GA mint endpoint for the benchmark: keep-alive HTTP/1.1 on loopback, a fixed latency,
optional TLS. Each answer goes out in one write with TCP_NODELAY, so the harness adds no Nagle delay.

    python -m tests.bench.fake_provider --port 9001 --latency-ms 300 [--tls-cert cert.pem --tls-key key.pem]
"""

import argparse
import asyncio
import hashlib
import json
import socket
import ssl
import time

ANSWER = {
    "value": "ek_bench_secret",
    "expires_at": 0,
    "session": {"type": "realtime", "object": "realtime.session", "id": "sess_bench", "model": "gpt-realtime"},
}


async def handle(reader, writer, latency):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length, authorization = 0, b""
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif line.lower().startswith(b"authorization:"):
                    authorization = line.split(b":", 1)[1].strip()
            if length:
                await reader.readexactly(length)
            if latency:
                await asyncio.sleep(latency)
            # The session id carries a fingerprint of the key it was minted with (tests check rotations).
            session = {**ANSWER["session"], "id": "sess_" + hashlib.sha256(authorization).hexdigest()[:12]}
            body = json.dumps({**ANSWER, "expires_at": int(time.time()) + 600, "session": session}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port, latency, tls_cert=None, tls_key=None):
    context = None
    if tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls_cert, tls_key)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, latency), "127.0.0.1", port, ssl=context, backlog=1024
    )
    print(f"ready {port}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.latency_ms / 1000, args.tls_cert, args.tls_key))


if __name__ == "__main__":
    main()
