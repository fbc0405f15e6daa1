"""wsclient.py - WebSocket sessions for the cluster tests, run inside a host's namespace.

    /usr/bin/python3 wsclient.py URL BUSINESS_ID...

Opens one session per BUSINESS_ID on URL (`ws://HOST:PORT/api/wstest`, the business id goes in
the query) with python3-websockets, then prints one JSON line per event on stdout:

    {"ev": "open", "i": 0, "business": "100", "session": "<Silk-Session-Id>"}
    {"ev": "ready"}                                     every session is open
    {"ev": "msg", "session": "...", "data": "..."}     a message from the gateway
    {"ev": "closed", "session": "...", "code": 1006}   the gateway closed it or the link broke
    {"ev": "error", "i": 0, "error": "..."}             a session could not be opened

It runs until stdin closes or SIGTERM, then closes its sessions.
"""
import asyncio
import json
import signal
import sys

import websockets


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def session(url, i, business_id, opened):
    try:
        ws = await asyncio.wait_for(websockets.connect(f"{url}?businessId={business_id}",
                                                       ping_interval=None, close_timeout=2), 10)
    except Exception as e:  # noqa: BLE001 - reported to the test, which decides
        emit(ev="error", i=i, error=f"{type(e).__name__}: {e}")
        opened.set_result(None) if not opened.done() else None
        return
    sid = ws.response_headers.get("Silk-Session-Id", "")
    emit(ev="open", i=i, business=business_id, session=sid)
    opened.set_result(ws)
    try:
        async for data in ws:
            emit(ev="msg", session=sid, data=data if isinstance(data, str) else data.hex())
    except websockets.ConnectionClosed:
        pass
    emit(ev="closed", session=sid, code=ws.close_code)


async def main(url, business_ids):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.add_reader(sys.stdin.fileno(),
                    lambda: sys.stdin.buffer.read1(4096) or stop.done() or stop.set_result(None))
    opened = [loop.create_future() for _ in business_ids]
    tasks = [asyncio.create_task(session(url, i, b, opened[i]))
             for i, b in enumerate(business_ids)]
    sockets = await asyncio.gather(*opened)
    emit(ev="ready")
    await stop
    for ws in sockets:
        if ws is not None:
            await ws.close()
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
