"""The lab's service: a tiny HTTP responder that answers every request with its node's
name (`<node>\\n`), so probes can tell who served.

Run by the built-in `process` agent (which sets VIGIL_NODE) inside a lab host:
`python3 -I -S lab_service.py PORT`. It listens on every address of the host, so it
answers on the VIP wherever the VIP is. Standalone, imports only os, socket, sys and
threading: it is started during a failover, so its start-up time is part of the outage
a client sees.
"""

import os
import socket
import sys
import threading

BODY = os.environ.get("VIGIL_NODE", "?").encode() + b"\n"
RESPONSE = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + BODY)


def answer(conn: socket.socket) -> None:
    try:
        conn.settimeout(2.0)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 8192:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        conn.sendall(RESPONSE)
    except OSError:
        pass
    finally:
        conn.close()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 80
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(128)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
