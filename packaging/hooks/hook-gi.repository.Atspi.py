# PyInstaller hook: the AT-SPI typelib (and what it depends on), which the Wayland window list and
# the browser address read through. PyInstaller ships no hook for it.
# ruff: noqa
from PyInstaller.utils.hooks.gi import GiModuleInfo

module_info = GiModuleInfo("Atspi", "2.0")
if module_info.available:
    binaries, datas, hiddenimports = module_info.collect_typelib_data()
