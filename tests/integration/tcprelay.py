# SPDX-License-Identifier: MIT
"""stdin/stdout <-> a TCP server: QEMU's guestfwd=...-cmd: runs this once per
guest connection, so a guest reaches a server on the host's loopback (the HTTP
boot test's http.server) although its network is restricted.

usage: tcprelay.py HOST PORT
"""

import os
import selectors
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.create_connection((host, port), timeout=30)
    sock.settimeout(None)
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ, "guest")
    sel.register(sock, selectors.EVENT_READ, "server")
    open_ends = 2
    while open_ends:
        for key, _ in sel.select():
            if key.data == "guest":
                data = os.read(0, 65536)
                if not data:
                    sel.unregister(0)
                    sock.shutdown(socket.SHUT_WR)
                    open_ends -= 1
                else:
                    sock.sendall(data)
            else:
                data = sock.recv(65536)
                if not data:
                    sel.unregister(sock)
                    open_ends -= 1
                    if open_ends:  # the server is done: so is the guest's connection
                        return
                else:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(1, view):]


if __name__ == "__main__":
    main()
