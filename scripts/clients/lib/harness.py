"""Shared by the Python client scripts (web3py.py, hostile.py): the dev chain (devnet.json,
the same file the JavaScript and cast scripts read), the common arguments, and the check
harness: each check runs at once in a thread bounded by its timeout and prints one JSON line,
{"client":...,"check":...,"ok":...,"detail":...,"ms":...} (with "skip": true where it raised
Skip). The scripts import it after putting this folder on sys.path, from any working folder.
"""
import argparse
import json
import os
import re
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "devnet.json")) as f:
    DEVNET = json.load(f)
MNEMONIC = DEVNET["mnemonic"]
# The first ten keys of MNEMONIC (m/44'/60'/0'/0/i): anvil's and hardhat's dev accounts.
DEV_KEYS = DEVNET["devKeys"]


class Skip(Exception):
    """The check does not apply (to this client or target): reported ok, with "skip": true."""


class CheckFailed(Exception):
    """A failed expectation: its message is the detail, without the line it was raised at."""


def short(x, n=400):
    s = x if isinstance(x, str) else json.dumps(x, default=lambda v: v.hex() if isinstance(v, bytes) else str(v))
    s = re.sub(r"\s+", " ", s)
    return s if len(s) <= n else s[:n] + "..."


def arg_parser():
    """--rpc, --interval-rpc, --target and --only, each defaulting to the environment (RPC_URL,
    INTERVAL_RPC_URL, TARGET, ONLY); a script adds its own."""
    p = argparse.ArgumentParser()
    p.add_argument("--rpc", default=os.environ.get("RPC_URL"))
    p.add_argument("--interval-rpc", default=os.environ.get("INTERVAL_RPC_URL"))
    p.add_argument("--target", default=os.environ.get("TARGET", "aiop"))
    p.add_argument("--only", default=os.environ.get("ONLY", ""))
    return p


class Harness:
    """`@h.check(name)` runs the decorated function now and prints its line. `script`: the
    file (its __file__) whose line an unexpected exception is reported at."""

    def __init__(self, client, only, script, timeout=30):
        self.client = client
        self.only = re.compile(only) if only else None
        self.script = os.path.basename(script)
        self.timeout = timeout
        self.failed = []

    def check(self, name, timeout=None, setup=False):
        """`setup`: run even when --only filters the check out (others need what it makes), silently."""
        timeout = self.timeout if timeout is None else timeout

        def deco(fn):
            quiet = bool(self.only and not self.only.search(name))
            if quiet and not setup:
                return fn
            r, ms = self._run(fn, timeout)
            if not r["ok"]:
                self.failed.append(name)
            if not quiet:
                print(json.dumps({"client": self.client, "check": name, **r, "ms": ms}), flush=True)
            return fn

        return deco

    def _run(self, fn, timeout):
        box = {}

        def run():
            try:
                box["detail"] = fn()
            except BaseException as e:  # noqa: BLE001 - every failure is a result
                box["error"] = e

        t0 = time.time()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout)
        ms = int((time.time() - t0) * 1000)
        if t.is_alive():
            return {"ok": False, "detail": f"timed out after {timeout}s"}, ms
        if "error" not in box:
            return {"ok": True, "detail": short(box.get("detail") or "")}, ms
        e = box["error"]
        if isinstance(e, Skip):
            return {"ok": True, "skip": True, "detail": str(e)}, ms
        text = f"{type(e).__name__}: {e}"
        if not isinstance(e, CheckFailed):
            tb = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.endswith(self.script)]
            if tb:
                text += f" (line {tb[-1].lineno})"
        return {"ok": False, "detail": short(text)}, ms

    def exit(self, fail_on_failure=False):
        """Ends the process now: daemon threads of timed-out checks must not keep it alive."""
        sys.stdout.flush()
        os._exit(1 if fail_on_failure and self.failed else 0)
