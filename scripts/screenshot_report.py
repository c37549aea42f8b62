"""Render an HTML report in headless Chromium and save a full-page screenshot.

Usage: ``python scripts/screenshot_report.py REPORT.html OUT.png [--height 6000]``.
Chromium runs with a fresh profile directory and no GPU, sandbox or background networking.
The script also checks that every ``<img>`` in the page carries image data.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("report")
    ap.add_argument("out")
    ap.add_argument("--height", type=int, default=6000)
    ap.add_argument("--width", type=int, default=1400)
    args = ap.parse_args()
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(n)), None)
    if exe is None:
        print("no Chromium found: install Debian's `chromium` package", file=sys.stderr)
        return 2
    page = Path(args.report).resolve()
    text = page.read_text(encoding="utf-8")
    imgs = re.findall(r"<img[^>]+src=\"data:image/(?:png|svg\+xml)[^\"]{200,}", text)
    print(f"{page.name}: {len(imgs)} embedded images, {len(text) / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", f"--user-data-dir={profile}",
               "--hide-scrollbars", f"--window-size={args.width},{args.height}",
               f"--screenshot={Path(args.out).resolve()}", page.as_uri()]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if res.returncode or not Path(args.out).exists():
        print(res.stderr[-2000:], file=sys.stderr)
        return 1
    print(f"screenshot -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
