"""Take the README's screenshot of ``listarchive serve`` (docs/serve.png).

Builds a demo archive by syncing the Google Groups simulator's demo groups (no
network), serves it with ``listarchive serve`` on a free local port, and has headless
Chromium photograph a search in the posts view. Run from the checkout, with the web
extra and Debian's ``chromium`` installed:

    python docs/screenshot.py                # writes docs/serve.png
    python docs/screenshot.py --out /tmp/x.png --path '/demo/threads'
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from archive.sync import sync_groups, targets_from_urls  # noqa: E402
from scraper.http import Fetcher  # noqa: E402
from tests.simulator import GroupsState, Simulator  # noqa: E402
from tests.simulator.demo import populate  # noqa: E402

DEFAULT_PATH = "/demo/posts?_search=security&_sort_desc=posted_at"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def build_demo_archive(path: Path) -> None:
    state = GroupsState()
    demo = populate(state)
    with Simulator(state) as sim, Fetcher(base_url=sim.base_url, delay=0) as fetcher:
        sync_groups(path, targets_from_urls([demo.announce.url, demo.dev.url]), fetcher=fetcher)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(url, timeout=5).raise_for_status()
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                code = process.poll()
                raise SystemExit(f"listarchive serve did not start (exit {code})") from None
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "serve.png")
    parser.add_argument("--path", default=DEFAULT_PATH, help="the page to photograph")
    parser.add_argument("--size", default="1280,900", help="window width,height")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as work:
        archive = Path(work) / "demo.db"
        build_demo_archive(archive)
        port = free_port()
        serve = subprocess.Popen(
            [sys.executable, "-c", "from archive.cli import cli; cli()", "serve",
             "--db", str(archive), "--port", str(port)],
            cwd=REPO,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base + "/-/versions.json", serve)
            subprocess.run(
                [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={Path(work) / 'profile'}",
                 f"--screenshot={args.out.resolve()}", f"--window-size={args.size}",
                 base + args.path],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
        finally:
            serve.terminate()
            serve.wait(timeout=30)
    print(f"{args.out} ({args.out.stat().st_size:,} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
