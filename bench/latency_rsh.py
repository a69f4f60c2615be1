"""An rsh wrapper that adds network latency: `latency_rsh.py MS host CMD...`
runs CMD locally and delays every byte by MS milliseconds in each direction
(a delay line: throughput is kept, each byte arrives MS later).

Use: HUTCH_RSH="python3 bench/latency_rsh.py 15" hutch extract ssh://host/path::a
gives a round trip of 30 ms."""

import os
import subprocess
import sys
import threading
import time
from collections import deque


def delay_line(src_fd: int, dst_fd: int, delay: float, close_dst) -> None:
    queue: deque = deque()
    cond = threading.Condition()
    done = False

    def reader():
        nonlocal done
        while data := os.read(src_fd, 1 << 20):
            with cond:
                queue.append((time.monotonic() + delay, data))
                cond.notify()
        with cond:
            done = True
            cond.notify()

    threading.Thread(target=reader, daemon=True).start()
    while True:
        with cond:
            while not queue and not done:
                cond.wait()
            if not queue and done:
                break
            due, data = queue.popleft()
        time.sleep(max(0.0, due - time.monotonic()))
        view = memoryview(data)
        while view:
            view = view[os.write(dst_fd, view) :]
    close_dst()


def main() -> int:
    delay = float(sys.argv[1]) / 1000
    command = sys.argv[3:]  # argv[2] is the host, ignored
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    up = threading.Thread(
        target=delay_line, args=(0, proc.stdin.fileno(), delay, proc.stdin.close), daemon=True
    )
    up.start()
    delay_line(proc.stdout.fileno(), 1, delay, lambda: os.close(1))
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
