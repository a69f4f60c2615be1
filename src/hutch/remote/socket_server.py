"""`hutch serve --socket PATH`: a long-running server on a unix socket,
one session (thread) per client."""

import contextlib
import os
import signal
import socket
import stat
import threading

from ..errors import UsageError
from . import protocol
from .server import ServeOptions, Session


def _remove_stale(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise UsageError(f"{path} exists and is not a socket; remove it or choose another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: a leftover of a server that died
        return
    finally:
        probe.close()
    raise UsageError(f"another server already listens on {path}")


class SocketServer:
    def __init__(self, path: str, options: ServeOptions):
        self.path = path
        self.pid_path = path + ".pid"
        self.options = options
        self.sessions: set[Session] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def serve_forever(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            _remove_stale(self.path)
            listener.bind(self.path)
            os.chmod(self.path, 0o770)
            listener.listen(16)
            with open(self.pid_path, "w") as f:
                f.write(f"{os.getpid()}\n")
        except OSError as e:
            listener.close()
            raise UsageError(f"cannot listen on {self.path}: {e.strerror}") from None
        previous = signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        listener.settimeout(0.5)
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except InterruptedError:
                    continue
                # Also bounds how long a send to a client that stopped reading waits.
                conn.settimeout(self.options.idle_timeout)
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        finally:
            signal.signal(signal.SIGTERM, previous)
            listener.close()
            for p in (self.path, self.pid_path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
            with self._lock:
                sessions = list(self.sessions)
            for session in sessions:
                if session.store is not None:
                    session.store.close()  # releases that client's locks

    def _handle(self, conn: socket.socket) -> None:
        reader = protocol.StreamReader(conn.recv_into, conn.fileno())
        session = Session(self.options, reader, conn.sendall)
        with self._lock:
            self.sessions.add(session)
        try:
            session.run()
        finally:
            with self._lock:
                self.sessions.discard(session)
            conn.close()
