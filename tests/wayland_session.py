"""Real headless Wayland desktops for the tests: GNOME's mutter with its portal, and sway.

:class:`GnomeSession` starts a private D-Bus session bus, PipeWire and WirePlumber, mutter on its
headless back end with one or more virtual monitors, and xdg-desktop-portal (which activates
xdg-desktop-portal-gnome and the permission store on the bus), all under a temporary
``XDG_RUNTIME_DIR`` and data folder so the grants stay inside the test. With ``shell=True`` the
compositor is GNOME Shell itself (headless), with its panel and screen-sharing indicator, on a
private system bus of its own. :func:`approve_dialog`
answers the portal's "Screen Share" dialog through the accessibility bus, as a person would
click it. :class:`SwaySession` runs sway's headless back end as an unprivileged user (sway
refuses root) with a socket the root test process can reach. Windows for either come from
:func:`show_window` (a Qt window with a title and big text, exposed on AT-SPI).
:func:`plug_monitor` plugs a monitor into running mutter (one of its virtual monitors, there
while the returned process lives), :func:`plug_keyboard` a keyboard.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GNOME_TOOLS = ("dbus-daemon", "pipewire", "wireplumber", "mutter")
PORTAL = "/usr/libexec/xdg-desktop-portal"


def gnome_missing() -> str | None:
    for tool in GNOME_TOOLS:
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.path.exists(PORTAL) or not os.path.exists("/usr/libexec/xdg-desktop-portal-gnome"):
        return "xdg-desktop-portal-gnome is not installed"
    try:
        import gi  # noqa: F401
    except ImportError:
        return "PyGObject is not installed"
    return None


def shell_missing() -> str | None:
    return gnome_missing() or (None if shutil.which("gnome-shell") else
                               "gnome-shell is not installed")


SYSTEM_BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
"""


class GnomeSession:
    """A headless GNOME Wayland session with the ScreenCast portal: mutter, or GNOME Shell."""

    def __init__(self, root: Path, monitors: tuple[str, ...] = ("1024x640",),
                 shell: bool = False, lockable: bool = False) -> None:
        self.root = root
        self.monitors = monitors
        self.shell = shell or lockable
        self.lockable = lockable
        self.display: str | None = None  # the X display a lockable shell runs nested in
        self.made_seats = False
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        run = root / "run"
        run.mkdir(parents=True, exist_ok=True)
        run.chmod(0o700)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS",
                                 "SWAYSOCK", "QT_QPA_PLATFORM")}
        self.env.update(
            XDG_RUNTIME_DIR=str(run), XDG_SESSION_TYPE="wayland", XDG_CURRENT_DESKTOP="GNOME",
            XDG_DATA_HOME=str(root / "data"), XDG_CONFIG_HOME=str(root / "config"),
            XDG_CACHE_HOME=str(root / "cache"), WAYLAND_DISPLAY="wayland-memlane",
            DBUS_SESSION_BUS_ADDRESS=f"unix:path={run}/bus", GTK_A11Y="atspi",
            NO_AT_BRIDGE="0", GSETTINGS_BACKEND="memory",
        )

    def _start(self, name: str, args: list[str],
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        proc = subprocess.Popen(args, env=env or self.env, stdout=log, stderr=log,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def __enter__(self) -> GnomeSession:
        run = Path(self.env["XDG_RUNTIME_DIR"])
        self._start("dbus", ["dbus-daemon", "--session", "--nofork", "--nopidfile",
                             f"--address={self.env['DBUS_SESSION_BUS_ADDRESS']}"])
        _wait_for(run / "bus", 10)
        if self.shell:  # GNOME Shell will not start without a system bus; this one is empty
            config = self.root / "system-bus.conf"
            config.write_text(SYSTEM_BUS.format(path=run / "system_bus"))
            self._start("system-dbus", ["dbus-daemon", f"--config-file={config}", "--nofork",
                                        "--nopidfile"])
            _wait_for(run / "system_bus", 10)
            self.env["DBUS_SYSTEM_BUS_ADDRESS"] = f"unix:path={run}/system_bus"
        if self.lockable:
            try:
                self._make_lockable()
            except BaseException:
                self.__exit__()
                raise
        try:
            self.start_pipewire()
            self.start_compositor()
            self.start_portal()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _make_lockable(self) -> None:
        """What GNOME Shell needs to lock the screen, and a display that is not headless (a
        headless shell neither locks nor ends screen casts for a lock): an X server to run
        nested in, a display manager answering on the system bus, systemd's seats folder."""
        read, write = os.pipe()
        xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0",
                                 f"{self.monitors[0]}x24", "-nolisten", "tcp", "-s", "0"],
                                pass_fds=(write,), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(write)
        self.procs["xvfb"] = xvfb
        with os.fdopen(read) as fh:
            number = fh.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"
        seats = Path("/run/systemd/seats")  # where GNOME Shell looks for systemd
        if not seats.exists():
            seats.mkdir(parents=True)
            self.made_seats = True
        gdm = self._start("gdm", [sys.executable, "-c", FAKE_GDM])
        deadline = time.monotonic() + 10
        while "answering" not in (self.root / "gdm.log").read_text():
            if gdm.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the display manager stand-in did not start: "
                                   + (self.root / "gdm.log").read_text())
            time.sleep(0.1)

    def start_compositor(self) -> None:
        if self.lockable:
            args = ["gnome-shell", "--nested", "--wayland",
                    f"--wayland-display={self.env['WAYLAND_DISPLAY']}"]
            self._start("mutter", args, env={**self.env, "DISPLAY": str(self.display)})
            _wait_for(Path(self.env["XDG_RUNTIME_DIR"]) / self.env["WAYLAND_DISPLAY"], 30)
            return
        args = ["gnome-shell" if self.shell else "mutter", "--headless", "--wayland", "--no-x11",
                f"--wayland-display={self.env['WAYLAND_DISPLAY']}"]
        for size in self.monitors:
            args += ["--virtual-monitor", size]
        self._start("mutter", args)
        _wait_for(Path(self.env["XDG_RUNTIME_DIR"]) / self.env["WAYLAND_DISPLAY"], 30)

    def restart_compositor(self) -> None:
        """Kill mutter (a crash, or the shell restarting) and start it again; the portal's
        GNOME back end goes with it and is started again by the next request."""
        self.stop("mutter")
        socket = Path(self.env["XDG_RUNTIME_DIR"]) / self.env["WAYLAND_DISPLAY"]
        socket.unlink(missing_ok=True)
        socket.with_name(socket.name + ".lock").unlink(missing_ok=True)
        self.start_compositor()

    def start_pipewire(self) -> None:
        self._start("pipewire", ["pipewire"])
        _wait_for(Path(self.env["XDG_RUNTIME_DIR"]) / "pipewire-0", 10)
        self._start("wireplumber", ["wireplumber"])

    def start_portal(self) -> None:
        """Start the portal and wait until it answers. Only name-owner queries are used while
        waiting: a call to the portal itself would make the bus activate a second one, and the
        test could then kill the one that does not serve."""
        self._start("portal", [PORTAL])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.owner_pid("org.freedesktop.portal.Desktop") is not None:
                return
            time.sleep(0.2)
        raise RuntimeError("the portal did not come up: " + self.log("portal")[-2000:])

    def owner_pid(self, name: str) -> int | None:
        """The process that owns ``name`` on the session bus (asking starts nothing)."""
        probe = subprocess.run(
            ["gdbus", "call", "--session", "--dest", "org.freedesktop.DBus", "--object-path",
             "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.GetConnectionUnixProcessID",
             name], env=self.env, capture_output=True, text=True, timeout=10, check=False)
        if probe.returncode != 0:
            return None
        return int(probe.stdout.strip().strip("(),").removeprefix("uint32 "))

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if name == "portal":  # whichever process serves the portal, it goes too
            pid = self.owner_pid("org.freedesktop.portal.Desktop")
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.owner_pid("org.freedesktop.portal.Desktop") is not None:
                assert time.monotonic() < deadline, "the portal did not go away"
                time.sleep(0.1)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *exc: object) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)
        # what the bus activated (the portal back ends, the permission store) went with it
        subprocess.run(["pkill", "-KILL", "-f", "xdg-desktop-portal-gnome|xdg-permission-store|"
                        "xdg-document-portal|xdg-desktop-portal-gtk|at-spi|"
                        "libexec/xdg-desktop-portal$"],
                       check=False, env=self.env)
        # the document portal's FUSE mount outlives it; unmounted, the folder can be removed
        doc = Path(self.env["XDG_RUNTIME_DIR"]) / "doc"
        subprocess.run(["umount", "-l", str(doc)], check=False, capture_output=True)
        if self.made_seats:
            with contextlib.suppress(OSError):
                Path("/run/systemd/seats").rmdir()
                Path("/run/systemd").rmdir()  # only if it is empty, as before


FAKE_GDM = r"""
from gi.repository import Gio, GLib

XML = ("<node><interface name='org.gnome.DisplayManager.Manager'>"
       "<method name='RegisterSession'><arg type='a{sv}' direction='in'/></method>"
       "<property name='Version' type='s' access='read'/></interface></node>")
bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
bus.register_object("/org/gnome/DisplayManager/Manager",
                    Gio.DBusNodeInfo.new_for_xml(XML).interfaces[0],
                    lambda conn, sender, path, iface, method, params, call: call.return_value(None),
                    lambda conn, sender, path, iface, prop: GLib.Variant("s", "43.0"), None)
Gio.bus_own_name_on_connection(bus, "org.gnome.DisplayManager", 0, None, None)
print("answering", flush=True)
GLib.MainLoop().run()
"""


def lock_missing() -> str | None:
    """Why a lockable GNOME Shell cannot run here, or None."""
    if shell_missing():
        return shell_missing()
    if shutil.which("Xvfb") is None:
        return "Xvfb is not installed"
    if not Path("/run/systemd/seats").exists() and os.geteuid() != 0:
        return "GNOME Shell locks only where /run/systemd/seats exists, and only root may make it"
    return None


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear within {seconds} s")
        time.sleep(0.1)


APPROVE = r"""
import sys, time
import gi
gi.require_version("Atspi", "2.0")
from gi.repository import Atspi

def find(acc, want, depth=0):
    if acc is None:
        return None
    if want(acc):
        return acc
    if depth > 16:
        return None
    for i in range(acc.get_child_count()):
        found = find(acc.get_child_at_index(i), want, depth + 1)
        if found is not None:
            return found
    return None

deadline = time.time() + float(sys.argv[1])
while time.time() < deadline:
    dialog = find(Atspi.get_desktop(0), lambda a: a.get_role() == Atspi.Role.FRAME
                  and a.get_name() == "Screen Share")
    if dialog is not None:
        listing = find(dialog, lambda a: a.get_role() == Atspi.Role.LIST)
        rows = listing.get_child_count()
        for i in range(rows):
            listing.get_selection_iface().select_child(i)
        time.sleep(0.3)
        share = find(dialog, lambda a: a.get_role() == Atspi.Role.PUSH_BUTTON
                     and "Share" in (a.get_name() or ""))
        share.get_action_iface().do_action(0)
        print(rows)
        sys.exit(0)
    time.sleep(0.2)
sys.exit(1)
"""


# what the scripts below that look at the desktop over AT-SPI start with
WALK = r"""
import sys, time
import gi
gi.require_version("Atspi", "2.0")
from gi.repository import Atspi

def walk(acc, depth=0):
    if acc is None or depth > 25:
        return
    yield acc
    for i in range(acc.get_child_count()):
        yield from walk(acc.get_child_at_index(i), depth + 1)
"""


CLICK = WALK + r"""
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    for acc in walk(Atspi.get_desktop(0)):
        if (acc.get_role() == Atspi.Role.PUSH_BUTTON and sys.argv[1] in (acc.get_name() or "")
                and acc.get_state_set().contains(Atspi.StateType.SHOWING)):
            acc.get_action_iface().do_action(0)
            sys.exit(0)
    time.sleep(0.5)
sys.exit(1)
"""


SHELL_CLICK = WALK + r"""
from gi.repository import Gio, GLib

target = None
for acc in walk(Atspi.get_desktop(0)):
    if acc.get_name() == sys.argv[1] and acc.get_state_set().contains(Atspi.StateType.SHOWING):
        target = acc
        break
if target is None:
    sys.exit(1)
box = target.get_component_iface().get_extents(Atspi.CoordType.SCREEN)
bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
RD, SC = "org.gnome.Mutter.RemoteDesktop", "org.gnome.Mutter.ScreenCast"

def call(dest, path, iface, method, args=None, reply=None):
    return bus.call_sync(dest, path, iface, method, args,
                         GLib.VariantType(reply) if reply else None, 0, 5000, None)

session = call(RD, "/org/gnome/Mutter/RemoteDesktop", RD, "CreateSession", None, "(o)")[0]
sid = call(RD, session, "org.freedesktop.DBus.Properties", "Get",
           GLib.Variant("(ss)", (RD + ".Session", "SessionId")), "(v)")[0]
cast = call(SC, "/org/gnome/Mutter/ScreenCast", SC, "CreateSession",
            GLib.Variant("(a{sv})", ({"remote-desktop-session-id": GLib.Variant("s", sid)},)),
            "(o)")[0]
stream = call(SC, cast, SC + ".Session", "RecordMonitor", GLib.Variant("(sa{sv})", ("", {})),
              "(o)")[0]
call(RD, session, RD + ".Session", "Start")
time.sleep(1.0)
call(RD, session, RD + ".Session", "NotifyPointerMotionAbsolute",
     GLib.Variant("(sdd)", (stream, box.x + box.width / 2, box.y + box.height / 2)))
time.sleep(0.3)
for pressed in (True, False):
    try:  # the click may end this very session (a stop button ends every screen cast)
        call(RD, session, RD + ".Session", "NotifyPointerButton",
             GLib.Variant("(ib)", (272, pressed)))
    except GLib.Error:
        break
    time.sleep(0.1)
try:
    call(RD, session, RD + ".Session", "Stop")
except GLib.Error:
    pass
"""


def click_in_shell(env: dict[str, str], name: str) -> bool:
    """Click GNOME Shell's showing control named ``name`` (St buttons offer AT-SPI no action):
    the pointer is moved there and pressed through mutter's RemoteDesktop API, as a person's
    mouse would."""
    done = subprocess.run([sys.executable, "-c", SHELL_CLICK, name], env=env,
                          capture_output=True, text=True, timeout=60)
    return done.returncode == 0


def showing(env: dict[str, str], name: str) -> bool:
    """Whether an accessible named ``name`` shows on the desktop now."""
    code = WALK + ("print(any(a.get_name() == sys.argv[1] and a.get_state_set().contains("
                   "Atspi.StateType.SHOWING) for a in walk(Atspi.get_desktop(0))))")
    done = subprocess.run([sys.executable, "-c", code, name], env=env, capture_output=True,
                          text=True, timeout=60)
    return done.stdout.strip() == "True"


def click_button(env: dict[str, str], name: str, timeout_s: float = 30.0) -> bool:
    """Click the first showing push button whose accessible name contains ``name``."""
    done = subprocess.run([sys.executable, "-c", CLICK, name, str(timeout_s)], env=env,
                          capture_output=True, text=True, timeout=timeout_s + 30)
    return done.returncode == 0


PLUG = r"""
import sys
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gio, GLib, Gst

width, height = (int(x) for x in sys.argv[1].split("x"))
Gst.init(None)
bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
SC = "org.gnome.Mutter.ScreenCast"

def call(path, iface, method, args=None, reply=None):
    return bus.call_sync(SC, path, iface, method, args,
                         GLib.VariantType(reply) if reply else None, 0, 5000, None)

session = call("/org/gnome/Mutter/ScreenCast", SC, "CreateSession",
               GLib.Variant("(a{sv})", ({},)), "(o)")[0]
stream = call(session, SC + ".Session", "RecordVirtual",
              GLib.Variant("(a{sv})", ({"cursor-mode": GLib.Variant("u", 0)},)), "(o)")[0]
node = []
bus.signal_subscribe(SC, SC + ".Stream", "PipeWireStreamAdded", stream, None, 0,
                     lambda *args: node.append(args[5][0]))
call(session, SC + ".Session", "Start")
context = GLib.MainContext.default()
while not node:
    context.iteration(True)
# mutter adds the monitor once a consumer has agreed on its size
pipeline = Gst.parse_launch(f"pipewiresrc path={node[0]} ! "
                            f"video/x-raw,width={width},height={height} ! fakesink")
pipeline.set_state(Gst.State.PLAYING)
print("plugged", flush=True)
GLib.MainLoop().run()
"""


def plug_monitor(env: dict[str, str], size: str = "800x600") -> subprocess.Popen[str]:
    """Plug a monitor of ``size`` into the running mutter: a virtual monitor of its ScreenCast
    API, there while the returned process lives (kill it to unplug the monitor)."""
    before = len(monitors(env))
    proc = subprocess.Popen([sys.executable, "-c", PLUG, size], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if "plugged" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError(f"no monitor was plugged: {proc.stderr.read() if proc.stderr else ''}")
    deadline = time.monotonic() + 10
    while len(monitors(env)) <= before:
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("mutter added no monitor")
        time.sleep(0.2)
    return proc


def monitors(env: dict[str, str]) -> list[str]:
    """The monitors mutter lays out now, named ``vendor:product:serial`` (as GNOME's portal
    names them in its record of a grant)."""
    done = subprocess.run(
        ["gdbus", "call", "--session", "--dest", "org.gnome.Mutter.DisplayConfig",
         "--object-path", "/org/gnome/Mutter/DisplayConfig", "--method",
         "org.gnome.Mutter.DisplayConfig.GetCurrentState"],
        env=env, capture_output=True, text=True, timeout=30)
    specs = re.findall(r"\('Meta-\d+', '([^']*)', '([^']*)', '([^']*)'\)", done.stdout)
    return sorted({":".join(spec) for spec in specs})


RENAME = r"""
import sys
from gi.repository import Gio, GLib

STORE = "org.freedesktop.impl.portal.PermissionStore"
bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)

def call(method, args, reply=None):
    return bus.call_sync(STORE, "/" + STORE.replace(".", "/"), STORE, method, args,
                         GLib.VariantType(reply) if reply else None, 0, 5000, None)

_, data = call("Lookup", GLib.Variant("(ss)", ("screencast", sys.argv[1])), "(a{sas}v)").unpack()
name, version, (created, used, sources) = data
sources = [(i, kind, GLib.Variant("s", sys.argv[3] if match == sys.argv[2] else match))
           for i, kind, match in sources]
call("SetValue", GLib.Variant("(sbsv)", ("screencast", True, sys.argv[1], GLib.Variant(
    "(suv)", (name, version, GLib.Variant("(xxa(uuv))", (created, used, sources)))))))
"""


def rename_granted_monitor(env: dict[str, str], restore_token: str, old: str, new: str) -> None:
    """Make the portal's record of a grant name monitor ``new`` where it named ``old``. Mutter
    gives each virtual monitor it plugs a new serial; a real monitor plugged back keeps its
    own, so a test that plugs "the same" monitor back renames it in the record."""
    subprocess.run([sys.executable, "-c", RENAME, restore_token, old, new], env=env, check=True,
                   capture_output=True, timeout=30)


KEYBOARD = r"""
import sys, time
from gi.repository import Gio, GLib

bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
RD = "org.gnome.Mutter.RemoteDesktop"

def call(path, iface, method, args=None, reply=None):
    return bus.call_sync(RD, path, iface, method, args,
                         GLib.VariantType(reply) if reply else None, 0, 5000, None)

session = call("/org/gnome/Mutter/RemoteDesktop", RD, "CreateSession", None, "(o)")[0]
call(session, RD + ".Session", "Start")
time.sleep(0.5)
for pressed in (True, False):  # a Shift press and release: the seat now has a keyboard
    call(session, RD + ".Session", "NotifyKeyboardKeycode", GLib.Variant("(ub)", (42, pressed)))
    time.sleep(0.1)
print("keyboard", flush=True)
GLib.MainLoop().run()
"""


def plug_keyboard(env: dict[str, str]) -> subprocess.Popen[str]:
    """Give headless mutter a keyboard (a virtual one, from its RemoteDesktop API), there while
    the returned process lives. Without one its seat has no keyboard focus, and apps that take
    focus from the keyboard (Firefox) never become the active window."""
    proc = subprocess.Popen([sys.executable, "-c", KEYBOARD], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if "keyboard" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError(f"no keyboard: {proc.stderr.read() if proc.stderr else ''}")
    return proc


def approve_dialog(env: dict[str, str], timeout_s: float = 30.0) -> subprocess.Popen[str]:
    """In the background: pick every monitor in the portal's dialog and click Share."""
    return subprocess.Popen([sys.executable, "-c", APPROVE, str(timeout_s)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


WINDOW = r"""
import os, sys
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget
app = QApplication([])
app.setApplicationName(sys.argv[3])
window = QWidget()
window.setWindowTitle(sys.argv[1])
window.setStyleSheet("background: white; color: black;")
label = QLabel(sys.argv[2], window)
label.setFont(QFont("DejaVu Sans", 40))
label.setAlignment(Qt.AlignmentFlag.AlignCenter)
QVBoxLayout(window).addWidget(label)
window.resize(int(sys.argv[4]), int(sys.argv[5]))
window.show()
count = [0]
def tick():  # MEMLANE_TEST_COUNT_MS: the text gains a number at that pace, as if typed
    count[0] += 1
    label.setText(f"{sys.argv[2]} {count[0]}")
if os.environ.get("MEMLANE_TEST_COUNT_MS"):
    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(int(os.environ["MEMLANE_TEST_COUNT_MS"]))
print("shown", flush=True)
app.exec()
"""


def show_window(env: dict[str, str], title: str, text: str, app: str = "memlane-test-notes",
                size: tuple[int, int] = (900, 500), **extra: Any) -> subprocess.Popen[str]:
    """A Qt window on the session's Wayland display, its title and text given, on AT-SPI."""
    wenv = {**env, "QT_QPA_PLATFORM": "wayland", "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1",
            "QT_WAYLAND_DISABLE_WINDOWDECORATION": "1", **extra}
    proc = subprocess.Popen([sys.executable, "-c", WINDOW, title, text, app, str(size[0]),
                             str(size[1])], env=wenv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "shown" not in line:
        proc.kill()
        raise RuntimeError(f"the test window did not open: {proc.stderr.read() if proc.stderr else ''}")
    time.sleep(1.0)
    return proc


FULL_SCREEN = r"""
import sys
import gi
gi.require_version("Gdk", "3.0")
gi.require_version("Gtk", "3.0")
from gi.repository import Gdk, Gtk

window = Gtk.Window(title=sys.argv[1])
label = Gtk.Label()
label.set_markup(f"<span font='DejaVu Sans 40'>{sys.argv[2]}</span>")
window.add(label)
display = Gdk.Display.get_default()
sizes = [display.get_monitor(i).get_geometry() for i in range(display.get_n_monitors())]
monitor = [f"{g.width}x{g.height}" for g in sizes].index(sys.argv[3])
window.show_all()
window.fullscreen_on_monitor(window.get_screen(), monitor)
print("shown", flush=True)
Gtk.main()
"""


def show_full_screen(env: dict[str, str], title: str, text: str,
                     monitor: str) -> subprocess.Popen[str]:
    """A GTK window full screen on the monitor of size ``monitor`` (WxH): Qt cannot say which
    monitor on Wayland, GTK names the output."""
    proc = subprocess.Popen([sys.executable, "-c", FULL_SCREEN, title, text, monitor],
                            env={**env, "GDK_BACKEND": "wayland"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if "shown" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError(f"the window did not open: {proc.stderr.read() if proc.stderr else ''}")
    time.sleep(1.0)
    return proc


# -- sway -------------------------------------------------------------------------------------


def sway_missing() -> str | None:
    for tool in ("sway", "grim", "foot", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


class SwaySession:
    """sway on its headless back end, run as an unprivileged user; root reaches its sockets."""

    USER = "memlane-sway"

    def __init__(self, root: Path, outputs: int = 1) -> None:
        self.root = root
        self.outputs = outputs
        self.proc: subprocess.Popen[bytes] | None = None
        # outside the test's own folders, which only root may enter
        self.base = Path(tempfile.mkdtemp(prefix="memlane-sway-"))
        self.base.chmod(0o755)
        self.run = self.base / "run"

    def _user(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(self.USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", self.USER], check=True)
            return pwd.getpwnam(self.USER)

    def __enter__(self) -> SwaySession:
        self.root.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = self._user()
            os.chown(self.run, user.pw_uid, user.pw_gid)
        self.run.chmod(0o700)
        config = self.base / "sway.config"
        lines = ["default_border none", "output * bg #ffffff solid_color"]
        for i in range(2, self.outputs + 1):  # HEADLESS-1 exists; add the others
            lines.append(f"exec swaymsg create_output  # output {i}")
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o644)
        self._sway_env = {"PATH": os.environ["PATH"], "HOME": str(self.run),
                          "XDG_RUNTIME_DIR": str(self.run), "WLR_BACKENDS": "headless",
                          "WLR_LIBINPUT_NO_DEVICES": "1", "WLR_RENDERER": "pixman",
                          "WLR_HEADLESS_OUTPUTS": "1"}
        self._config = config
        self._start()
        self.env = {**{k: v for k, v in os.environ.items()
                       if k not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "QT_QPA_PLATFORM")},
                    "WAYLAND_DISPLAY": self.display, "SWAYSOCK": self.swaysock,
                    "XDG_SESSION_TYPE": "wayland", "XDG_CURRENT_DESKTOP": "sway",
                    "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/memlane-test-bus"}
        return self

    def _start(self) -> None:
        stale = set(self.run.glob("sway-ipc.*.sock"))  # a killed sway leaves its socket behind
        log = open(self.root / "sway.log", "ab")  # noqa: SIM115 - the process owns it
        # sway refuses to run as root; as anyone else it runs as that user
        prefix = ["runuser", "-u", self.USER, "--"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen([*prefix, "sway", "-c", str(self._config)],
                                     env=self._sway_env, stdout=log, stderr=log,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            sockets = [p for p in self.run.glob("sway-ipc.*.sock") if p not in stale]
            displays = [p for p in self.run.glob("wayland-*") if not p.name.endswith(".lock")]
            if sockets and displays:
                self.swaysock, self.display = str(sockets[0]), str(displays[0])
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("sway did not start: " + (self.root / "sway.log").read_text())
        time.sleep(0.5)

    def kill(self) -> None:
        """sway crashes: killed with everything it started; its sockets stay behind."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        """sway starts again after :meth:`kill`: a new IPC socket (its name has the new pid);
        ``self.env`` keeps the old one, as a recorder started before the crash does."""
        self._start()

    def msg(self, *args: str) -> str:
        done = subprocess.run(["swaymsg", "-s", self.swaysock, *args], capture_output=True,
                              text=True, timeout=10, check=False)
        return done.stdout

    def __exit__(self, *exc: object) -> None:
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)
