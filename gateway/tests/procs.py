"""procs.py - what the gateway's Python tests share: free ports, waiting, processes with logs,
a gateway started and ready.

edge_test.py, auth_test.py, gateway_test.py and tls_test.py import it (their own folder is on sys.path when they run).
"""
import os
import signal
import socket
import subprocess
import time


def free_port():
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10, what="condition"):
    """Polls pred every 50 ms until it is true; AssertionError after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc, timeout=10):
    """Stops a subprocess with SIGTERM, kills it after timeout seconds; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


class Proc:
    """A process with its output in REGISTRY/NAME.log and the file registry REGISTRY/registry,
    stopped with SIGTERM (killed after 10 s)."""

    def __init__(self, argv, registry, name):
        self.out = open(os.path.join(registry, f"{name}.log"), "w+")
        env = dict(os.environ, SILK_REGISTRY=f"file:{registry}/registry", SILK_LOG="debug")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.out, stderr=subprocess.STDOUT)

    def text(self):
        self.out.flush()
        with open(self.out.name) as f:
            return f.read()

    def stop(self):
        return stop(self.proc)

    def close(self):
        code = self.stop()
        self.out.close()
        return code


def start_gateway(binary, registry, gw_id, *extra):
    """Starts a gateway on a free loopback port (Proc.port) and returns it once it accepts and
    serves SessionManager; RuntimeError with its log when it exits first."""
    port = free_port()
    p = Proc([binary, "--listen", f"127.0.0.1:{port}", "--id", gw_id, *extra], registry,
             f"gateway-{gw_id}")
    p.port = port
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if p.proc.poll() is not None:
                text = p.text()
                p.close()
                raise RuntimeError("the gateway did not come up:\n" + text)
            time.sleep(0.05)
    wait_for(lambda: f"id={gw_id}" in p.text() and "serving silk.ws.SessionManager" in p.text(),
             what="SessionManager")
    return p
