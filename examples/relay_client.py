#!/usr/bin/env python3
"""Skycast session relay client: stream to a session's operators, or operate one.

Needs Python 3.9+ and the `websockets` package (13 or newer, for its asyncio
client):

    pip install websockets

Stream a file as a session's client (creates the session, deletes it at the end):

    export SKYCAST_PASSWORD=...        # safer than --password: see --help
    relay_client.py stream --api http://127.0.0.1:8080/api --username alice \
        --invite <bob's user id> --wait-operators 1 --header-bytes 4096 video.webm

Send newline-delimited JSON from stdin instead of a file:

    producer | relay_client.py stream --api ... --username alice --data

Operate a session (an invited user, or its creator), saving what arrives:

    relay_client.py operate --api ... --username bob SESSION_ID --out copy.webm

The client's socket authenticates with the session's stream key, an
operator's with their access token, both as the second WebSocket subprotocol
(`skycast, <secret>`), so neither appears in a URL. This script never prints
them. Close codes: see CLOSE_CODES below.
"""

import argparse
import asyncio
import getpass
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
except ImportError:  # missing, or older than 13: said in main(), so --help works without it
    connect = None

CLOSE_CODES = {
    1000: "session finished",
    1001: "node shutting down",
    1003: "operators send text only",
    1006: "connection lost (no close frame)",
    1008: "unknown control message",
    1009: "message too big",
    1013: "too slow: the queue to this operator overflowed",
    4001: "session full",
    4002: "replaced by a newer connection of the client",
    4003: "no longer invited to operate this session",
}
# What an operator accepts in one message; the relay's own limit
# (WS_MAX_MESSAGE_SIZE, 10 MiB by default) is the one that counts.
MAX_MESSAGE = 64 * 1024 * 1024


class ClientError(Exception):
    """A failure to report in one line (never with a token or key in it)."""


def api_call(api, method, path, token=None, body=None):
    """One JSON request to the REST API; the decoded answer, or ClientError."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api.rstrip("/") + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            err = json.loads(text)["error"]
            detail = f"{err.get('code')}: {err.get('message')}"
        except (ValueError, KeyError, TypeError):
            detail = text[:500] or e.reason
        raise ClientError(f"{method} {path}: HTTP {e.code} {detail}") from None
    except urllib.error.URLError as e:
        raise ClientError(f"{method} {path}: cannot reach the API: {e.reason}") from None
    return json.loads(raw) if raw else {}


def login(args):
    password = os.environ.get("SKYCAST_PASSWORD") or args.password
    if not password and not sys.stdin.isatty():
        raise ClientError("no password: set SKYCAST_PASSWORD")
    if not password:
        password = getpass.getpass(f"password for {args.username}: ")
    body = {"username": args.username, "password": password}
    return api_call(args.api, "POST", "/auth/login", body=body)["access_token"]


def without_query(url):
    """A URL fit to print: no query string, which could carry a secret."""
    return urllib.parse.urlsplit(url)._replace(query="", fragment="").geturl()


def describe_close(code, reason):
    meaning = CLOSE_CODES.get(code, "")
    return f"closed: {code} {reason or meaning}".rstrip()


async def print_replies(ws, closed):
    """Print what operators send back (text) to stderr until the socket closes."""
    try:
        async for msg in ws:
            if isinstance(msg, str):
                print(f"operator: {msg}", file=sys.stderr)
    except ConnectionClosed as e:
        closed.append(e.rcvd)
    else:
        closed.append(None)


async def wait_for_operators(args, token, session_id):
    deadline = time.monotonic() + args.wait_timeout
    while True:
        session = await asyncio.to_thread(api_call, args.api, "GET", f"/sessions/{session_id}", token)
        joined = session.get("operators", [])
        if len(joined) >= args.wait_operators:
            print(f"operators joined: {len(joined)}")
            return
        if time.monotonic() > deadline:
            raise ClientError(f"only {len(joined)} of {args.wait_operators} operators joined in {args.wait_timeout:g} s")
        await asyncio.sleep(1)


def chunks_of_file(path, chunk, header_bytes):
    """(is_header, bytes) pieces of the file: the header first if asked."""
    with open(path, "rb") as f:
        if header_bytes:
            yield True, f.read(header_bytes)
        while piece := f.read(chunk):
            yield False, piece


async def send_all(ws, args, counts):
    started = time.monotonic()

    async def send(message):
        await ws.send(message)
        counts[0] += 1
        counts[1] += len(message)
        if args.rate:  # sleep until the bytes sent so far fit the rate
            ahead = counts[1] / args.rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)

    if args.data:
        number = 0
        while line := await asyncio.to_thread(sys.stdin.readline):
            number += 1
            line = line.strip()
            if not line:
                continue
            try:
                json.loads(line)  # refuse what is not JSON before sending it
            except ValueError as e:
                raise ClientError(f"stdin line {number} is not JSON ({e}); sent nothing of it") from None
            await send(line)
        return
    for is_header, piece in chunks_of_file(args.file, args.chunk, args.header_bytes):
        if is_header:
            await ws.send('{"skycast":"header"}')  # to the relay: not relayed, not counted
        await send(piece)


async def stream(args):
    token, logged_in = login(args), time.monotonic()
    session = api_call(args.api, "POST", "/sessions", token, body={})
    session_id = session["session_id"]
    print(f"session: {session_id} (status {session.get('status')})")
    print(f"operators join with: {sys.argv[0]} operate --api {args.api} --username <operator> {session_id}")
    closed = []
    try:
        for user_id in args.invite:
            api_call(args.api, "PUT", f"/sessions/{session_id}/operators/{user_id}", token, body={})
            print(f"invited: {user_id}")
        print(f"connecting to {without_query(session['ws_url'])}")
        async with connect(session["ws_url"], subprotocols=["skycast", session["stream_key"]]) as ws:
            replies = asyncio.create_task(print_replies(ws, closed))
            try:
                if args.wait_operators:
                    await wait_for_operators(args, token, session_id)
                counts = [0, 0]  # messages, bytes
                started = time.monotonic()
                try:
                    await send_all(ws, args, counts)
                finally:
                    took = time.monotonic() - started
                    print(f"sent {counts[0]} messages, {counts[1]} bytes in {took:.2f} s"
                          f" ({counts[1] / max(took, 1e-6) / 1e6:.2f} MB/s)")
                await ws.close(1000)
                await replies
            finally:
                replies.cancel()
    except ConnectionClosed as e:
        close = e.rcvd or (closed[0] if closed else None)
        raise ClientError(describe_close(close.code, close.reason) if close else "connection lost") from None
    finally:
        if not args.keep:
            if time.monotonic() - logged_in > 600:  # access tokens last 15 minutes
                token = login(args)
            api_call(args.api, "DELETE", f"/sessions/{session_id}", token)
            print(f"session {session_id} deleted")
    return 0


async def operate(args):
    token = login(args)
    session = api_call(args.api, "GET", f"/sessions/{args.session_id}", token)
    url = session.get("operator_ws_url")
    if not url:  # the API leaves it out for the session's client
        raise ClientError(f"{args.username} is this session's client, not an operator")
    print(f"connecting to {without_query(url)}", file=sys.stderr)
    out = open(args.out, "wb") if args.out else None
    messages = binary_bytes = 0
    try:
        async with connect(url, subprotocols=["skycast", token], max_size=MAX_MESSAGE) as ws:
            try:
                while args.count is None or messages < args.count:
                    msg = await ws.recv()
                    messages += 1
                    if isinstance(msg, str):
                        print(msg)
                    else:
                        binary_bytes += len(msg)
                        if out:
                            out.write(msg)
                close = None
                await ws.close(1000)  # read what we came for: leave normally
            except ConnectionClosed as e:
                close = e.rcvd
    finally:
        if out:
            out.close()
    print(f"received {messages} messages, {binary_bytes} bytes of binary", file=sys.stderr)
    if close is None and args.count is not None and messages >= args.count:
        return 0
    if close is None:
        print("connection lost (no close frame)", file=sys.stderr)
        return 1
    print(describe_close(close.code, close.reason), file=sys.stderr)
    return 0 if close.code in (1000, 1001) else 1


def parse_args(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", required=True, help="REST API base URL, e.g. http://127.0.0.1:8080/api")
    common.add_argument("--username", required=True)
    common.add_argument("--password", help="visible to other users of this machine (ps, /proc): prefer the "
                        "SKYCAST_PASSWORD environment variable, which wins when set; without either, it is asked for")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Close codes: " + ", ".join(
        f"{c} {m}" for c, m in CLOSE_CODES.items()))
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("stream", parents=[common], help="create a session and stream a file (or stdin) to it")
    s.add_argument("file", nargs="?", help="the file to send (not with --data)")
    s.add_argument("--chunk", type=int, default=32768, help="bytes per binary message (default 32768)")
    s.add_argument("--rate", type=float, help="pace sending at this many bytes per second (default: as fast as it goes)")
    s.add_argument("--header-bytes", type=int, default=0, metavar="N",
                   help="send the first N bytes as the stream header, replayed to operators who join late")
    s.add_argument("--data", action="store_true", help="send newline-delimited JSON from stdin as text messages")
    s.add_argument("--invite", action="append", default=[], metavar="USER_ID", help="invite an operator (repeatable)")
    s.add_argument("--wait-operators", type=int, default=0, metavar="K", help="wait for K operators before sending")
    s.add_argument("--wait-timeout", type=float, default=60, help="seconds to wait for them (default 60)")
    s.add_argument("--keep", action="store_true", help="do not delete the session at the end")

    o = sub.add_parser("operate", parents=[common], help="receive a session's messages as an operator")
    o.add_argument("session_id")
    o.add_argument("--out", help="write every binary message to this file")
    o.add_argument("--count", type=int, metavar="N", help="leave after N messages")

    args = p.parse_args(argv)
    if args.command == "stream":
        if args.data == bool(args.file):
            p.error("stream: give either a FILE or --data")
        if args.data and args.header_bytes:
            p.error("stream: --header-bytes needs a FILE")
        if args.chunk <= 0 or args.header_bytes < 0 or (args.rate is not None and args.rate <= 0):
            p.error("stream: --chunk and --rate must be positive, --header-bytes not negative")
    return args


def main(argv=None):
    args = parse_args(argv)
    if connect is None:
        sys.exit("relay_client.py needs websockets 13 or newer: pip install websockets")
    try:
        return asyncio.run(stream(args) if args.command == "stream" else operate(args))
    except ClientError as e:
        print(f"error: {e}", file=sys.stderr)
    except InvalidStatus as e:  # the relay refused the socket before the upgrade
        print(f"error: WebSocket refused: HTTP {e.response.status_code} "
              f"{e.response.body.decode(errors='replace')[:500]}", file=sys.stderr)
    except WebSocketException as e:
        print(f"error: WebSocket: {e}", file=sys.stderr)
    except (OSError, ValueError) as e:  # a file, a socket or a line that is not JSON
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
