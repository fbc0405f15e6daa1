"""registry_support.py - what the registry_*_test.py scripts share: a redis-server on a free
loopback port with persistence off, rpc-probe-service instances, log checks. Every process
started here is stopped by its owner's stop(); every wait is bounded."""
import os
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Redis:
    """redis-server on a free loopback port, no RDB, no AOF; restart() keeps the port. extra
    are more of its options (a password, ACL users)."""

    def __init__(self, log_dir, *extra):
        self.extra = extra
        self.port = free_port()
        self.log_path = os.path.join(log_dir, "redis.log")
        self.proc = None
        self.start()

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self):
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", *self.extra],
                stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: port_open(self.port) or self.proc.poll() is not None, 10,
                   "redis-server to listen")
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited {self.proc.returncode}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self):
        self.kill()
        self.start()

    def cli(self, *args, db=0):
        done = subprocess.run(["redis-cli", "-p", str(self.port), "-n", str(db), *args],
                              capture_output=True, text=True, timeout=10)
        return done.stdout

    def stop(self):
        self.kill()


class Process:
    """A background process logging to a file; stop() sends SIGTERM, then SIGKILL."""

    def __init__(self, argv, env, log_path, stdout=None):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, env=env, stdout=stdout or self.log,
                                     stderr=self.log, text=True)

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        return self.proc.returncode


def start_probe_service(build_dir, env, log_dir, name):
    """Starts rpc-probe-service on a free port; returns it once it listens."""
    port = free_port()
    exe = os.path.join(build_dir, "tests", "rpc-probe-service")
    svc = Process([exe], dict(env, SILK_LISTEN=f"tcp://127.0.0.1:{port}"),
                  os.path.join(log_dir, f"{name}.log"))
    svc.address = f"tcp://127.0.0.1:{port}"
    try:
        wait_until(lambda: port_open(port) or svc.proc.poll() is not None, 10, f"{name} to listen")
    except AssertionError:
        svc.stop()
        raise
    if svc.proc.poll() is not None:
        svc.stop()
        raise AssertionError(f"{name} exited: {svc.read_log()}")
    return svc


def check_sanitizers(processes):
    """Fails on what a sanitizer build reports in a process's log (leaks included)."""
    for p in processes:
        text = p.read_log()
        for mark in ("Sanitizer", "runtime error:"):
            if mark in text:
                raise AssertionError(f"{p.log_path} reports {mark}:\n{text[-4000:]}")
