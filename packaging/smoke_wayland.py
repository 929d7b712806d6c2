"""The installed package on a headless GNOME Wayland desktop: grant once, record, search.

Run by ``packaging/smoke.sh`` with the project's virtual environment (it borrows the test suite's
:class:`GnomeSession`), after the .deb is installed: ``/usr/bin/memlane capture --grant`` gets the
portal's permission (the dialog answered through AT-SPI), ``memlane capture --once`` stores a frame
of a window through the bundled PyGObject, GStreamer and PipeWire plugin, and ``memlane search``
finds the window's word in it. Skips (exit 0, says why) where the desktop is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from wayland_session import GnomeSession, approve_dialog, gnome_missing, show_window

MEMLANE = "/usr/bin/memlane"


def main() -> int:
    if gnome_missing():
        print(f"skipped: {gnome_missing()}")
        return 0
    with tempfile.TemporaryDirectory() as tmp, GnomeSession(Path(tmp) / "desk") as session:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "settings.toml").write_text("[privacy]\nidle_seconds = 0.0\n")
        env = {**session.env, "MEMLANE_HOME": str(home)}
        window = show_window(session.env, "Harbour notes", "quayside")
        try:
            approver = approve_dialog(session.env)
            granted = subprocess.run([MEMLANE, "capture", "--grant"], env=env,
                                     capture_output=True, text=True, timeout=120)
            approver.wait(30)
            if granted.returncode != 0:
                print("the grant failed:", granted.stdout, granted.stderr)
                return 1
            once = subprocess.run([MEMLANE, "capture", "--once"], env=env, capture_output=True,
                                  text=True, timeout=180)
        finally:
            window.kill()
        print(once.stdout.strip(), once.stderr.strip()[-2000:])
        if once.returncode != 0:
            return 1
        found = json.loads(subprocess.run(
            [MEMLANE, "search", "quayside", "--json"], env={**env, "WAYLAND_DISPLAY": ""},
            capture_output=True, text=True, timeout=120).stdout or "[]")
        print(f"{len(found)} search hit(s) for the window's word:",
              [(hit.get("app"), hit.get("title")) for hit in found[:3]])
        return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
