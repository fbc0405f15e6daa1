"""demo.py - plays the seed scenario against a running stack and prints what each client got."""
import argparse
import asyncio
import http.client
import json
import os
import subprocess

import websockets


def step(text):
    print(f"\n== {text}")


async def drain(name, ws, seconds=1.0):
    """Prints every message a session receives within `seconds`."""
    got = []
    try:
        while True:
            got.append(await asyncio.wait_for(ws.recv(), seconds))
    except asyncio.TimeoutError:
        pass
    print(f"   {name} received: {got if got else 'nothing'}")


def post(gateway, path, body):
    conn = http.client.HTTPConnection(gateway, timeout=5)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, text


def refused_handshake(gateway, path):
    conn = http.client.HTTPConnection(gateway, timeout=5)
    conn.request("GET", path, headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, text


def call(caller, business_id, msg):
    done = subprocess.run([caller, business_id, msg], capture_output=True, text=True, timeout=10)
    return done.returncode, (done.stdout + done.stderr).strip()


async def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateway", default="127.0.0.1:5000")
    parser.add_argument("--caller", required=True)
    args = parser.parse_args()
    base = f"ws://{args.gateway}/api/wstest"

    step(f"three browsers open sessions: two for business 100, one for 200 ({base}?businessId=...)")
    a = await websockets.connect(f"{base}?businessId=100")
    b = await websockets.connect(f"{base}?businessid=100")
    c = await websockets.connect(f"{base}?bussinessId=200")
    sessions = {"A (100)": a, "B (100)": b, "C (200)": c}

    step("another service calls WsTest.Echo(\"100\", \"hi\") over nng: wstest-caller 100 hi")
    rc, out = call(args.caller, "100", "hi")
    print(f"   wstest-caller exit {rc}: {out}")
    for name, ws in sessions.items():
        await drain(name, ws)

    step("POST /api/wstest/echo {\"businessId\":\"100\",\"msg\":\"from http\"} on the gateway")
    status, text = post(args.gateway, "/api/wstest/echo", {"businessId": "100", "msg": "from http"})
    print(f"   HTTP {status} {text}")
    for name, ws in sessions.items():
        await drain(name, ws)

    step("silk-ctl, silk's grpcurl: silk-ctl call wstest.WsTest/Echo '{\"businessId\":\"100\",\"msg\":\"ctl\"}'")
    ctl = os.path.join(os.path.dirname(args.caller), "silk-ctl")
    done = subprocess.run([ctl, "call", "wstest.WsTest/Echo", '{"businessId":"100","msg":"ctl"}'],
                          capture_output=True, text=True, timeout=10)
    print(f"   silk-ctl exit {done.returncode}: {(done.stdout + done.stderr).strip()}")
    for name, ws in sessions.items():
        await drain(name, ws)

    step("a browser without a business id is refused")
    status, text = refused_handshake(args.gateway, "/api/wstest")
    print(f"   HTTP {status} {text}")

    step("a business with no session: wstest-caller 999 x")
    rc, out = call(args.caller, "999", "x")
    print(f"   wstest-caller exit {rc}: {out}")

    for ws in sessions.values():
        await ws.close()
    print("\ndemo done")


if __name__ == "__main__":
    asyncio.run(main())
