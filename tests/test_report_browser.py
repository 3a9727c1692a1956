"""The HTML report in a real browser: headless Chromium loads it from disk, every image
decodes, and a screenshot is taken. Skipped, saying why, where Chromium is not installed
(`.ci/run` installs Debian's chromium package)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from rehearse.cli.main import main
from test_simulator import SMALL

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Appended to a copy of the page: when everything has loaded, the title says how many images
# decoded (naturalWidth > 0) out of how many there are.
PROBE = """<script>window.addEventListener('load', () => {
  const images = [...document.images];
  const decoded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.title = 'images ' + decoded + '/' + images.length;
});</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); "
                                              "the browser check of the HTML report is skipped")
def test_the_report_opens_in_headless_chromium_with_every_image_loaded(tmp_path):
    sets = [a for o in SMALL for a in ("--set", o)]
    for argv in (["simulate", "--out", str(tmp_path / "run"), *sets],
                 ["report", str(tmp_path / "run"), "--out", str(tmp_path / "report"), *sets]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
    page = tmp_path / "report" / "report.html"
    probed = tmp_path / "report" / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                          "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=60)
    found = re.search(r"<title>images (\d+)/(\d+)</title>", dom.stdout)
    assert found, dom.stderr[-2000:]
    decoded, total = map(int, found.groups())
    assert total >= 3 and decoded == total
    shot = tmp_path / "report" / "screenshot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2400",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=60)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
