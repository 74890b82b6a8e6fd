"""Connection-rate worker for bench/slr_conn_rate.ts, run inside the lab netns.

It owns the listener the benchmark stack redirects to (sockform finds it by
address and takes a duplicate with pidfd_getfd) and is also the client, so one
process does connect + accept + close with no cross-process hand-off:

    argv: LISTEN_HOST PORT          prints "ready" once listening
    stdin "run K HOST PORT"         K connections, prints "WALL CPU": elapsed
                                    seconds, and this process's CPU seconds
                                    (user + system, so time spent preempted by
                                    other load is left out)
    stdin EOF                       exits

The client closes with SO_LINGER {on, 0} (an RST) so no TIME_WAIT piles up
and ephemeral ports never run out.
"""
import socket
import struct
import sys
import time

RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def connections(listener, k, address):
    cpu = time.process_time()
    start = time.perf_counter()
    for _ in range(k):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.connect(address)
        server, _peer = listener.accept()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
        client.close()
        server.close()
    return time.perf_counter() - start, time.process_time() - cpu


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((sys.argv[1], int(sys.argv[2])))
    listener.listen(4096)
    print("ready", flush=True)
    for line in sys.stdin:
        verb, k, host, port = line.split()
        assert verb == "run", line
        wall, cpu = connections(listener, int(k), (host, int(port)))
        print(wall, cpu, flush=True)


try:
    main()
except KeyboardInterrupt:
    pass  # Ctrl-C reaches the whole process group; the runner cleans up
