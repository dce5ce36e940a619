"""Waits until a DNS server answers a query with NOERROR and at least one
answer record (over UDP), for infra/stack.sh. No dependencies.

    python3 dns_wait.py HOST PORT NAME TYPE TIMEOUT_SECONDS

Exits 0 once it does, 1 at the timeout.
"""
import os
import socket
import struct
import sys
import time

TYPES = {"A": 1, "NS": 2, "SOA": 6, "TXT": 16}


def query(name, qtype):
    qid = struct.unpack("!H", os.urandom(2))[0]
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD set
    labels = b"".join(
        bytes([len(label)]) + label.encode("ascii")
        for label in name.rstrip(".").split(".")
        if label
    )
    return qid, header + labels + b"\x00" + struct.pack("!HH", TYPES[qtype], 1)


def answered(host, port, name, qtype):
    qid, packet = query(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.sendto(packet, (host, port))
            reply, _ = sock.recvfrom(65535)
        except OSError:  # timeout, or connection refused (not listening yet)
            return False
    if len(reply) < 12:
        return False
    rid, flags, _, ancount, _, _ = struct.unpack("!HHHHHH", reply[:12])
    return rid == qid and flags & 0x8000 and flags & 0x000F == 0 and ancount > 0


def main():
    host, port, name, qtype, timeout = sys.argv[1:6]
    deadline = time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        if answered(host, int(port), name, qtype.upper()):
            return 0
        time.sleep(0.1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
