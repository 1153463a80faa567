"""A real SMTP server for Orakel's tests (aiosmtpd). Each accepted message is written to DIR as
NAME.msg: a JSON line with the envelope recipients, then the message as received. Recipients
containing "bounce" are refused with 550; while DIR/FAIL exists every message gets 451; while
DIR/SLOW exists, each message is answered only after the number of seconds it holds.

    python3 tests/support/smtp_server.py --port PORT --dir DIR
prints "ready" once it listens and runs until terminated."""
import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "bounce" in address:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        try:
            with open(os.path.join(self.directory, "SLOW")) as f:
                await asyncio.sleep(float(f.read().strip() or "0"))
        except FileNotFoundError:
            pass
        if os.path.exists(os.path.join(self.directory, "FAIL")):
            return "451 4.3.0 Try again later"
        with self.lock:
            self.count += 1
            name = "%d-%06d" % (time.time_ns(), self.count)
        tmp = os.path.join(self.directory, "." + name)
        with open(tmp, "wb") as f:
            f.write(json.dumps({"to": envelope.rcpt_tos}).encode() + b"\n")
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.directory, name + ".msg"))
        return "250 Message accepted for delivery"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    controller = Controller(Handler(a.dir), hostname="127.0.0.1", port=a.port)
    controller.start()
    print("ready", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        if os.getppid() == 1:
            break  # the test process is gone
    controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
