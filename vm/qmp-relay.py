#!/usr/bin/env python3
"""Relay QMP commands a VM guest asks for on its console to QEMU.

    qmp-relay.py SOCKET CONSOLE_LOG

Follows CONSOLE_LOG (the serial console as vm/run.sh writes it); each line
`NETLOOM-VM-QMP {json}` is sent to QEMU's QMP socket SOCKET as a command,
and the reply is printed as `qmp-relay: ...` on stderr. Ends when QEMU
closes the socket or the log goes away. Used by vm/failover.sh, where the
test inside unplugs its own primary NIC (`device_del`) at the moment it
chooses.
"""
import json
import os
import socket
import sys
import time

MARK = "NETLOOM-VM-QMP "


def connect(path):
    for _ in range(600):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            time.sleep(0.1)
    sys.exit(f"qmp-relay: no QMP socket at {path}")


def reply(f):
    """The next reply (not an asynchronous event)."""
    while True:
        line = f.readline()
        if not line:
            return None
        msg = json.loads(line)
        if "event" not in msg:
            return msg


def main():
    sock_path, log_path = sys.argv[1], sys.argv[2]
    s = connect(sock_path)
    f = s.makefile("r")
    json.loads(f.readline())  # the greeting
    s.sendall(b'{"execute": "qmp_capabilities"}\n')
    reply(f)
    with open(log_path, "r", errors="replace") as log:
        while os.path.exists(log_path):
            line = log.readline()
            if not line:
                time.sleep(0.05)
                continue
            at = line.find(MARK)
            if at < 0:
                continue
            cmd = line[at + len(MARK):].strip()
            try:
                json.loads(cmd)
            except ValueError:
                print(f"qmp-relay: not JSON: {cmd}", file=sys.stderr)
                continue
            s.sendall(cmd.encode() + b"\n")
            r = reply(f)
            print(f"qmp-relay: {cmd} -> {json.dumps(r)}", file=sys.stderr)
            if r is None:
                return


if __name__ == "__main__":
    main()
