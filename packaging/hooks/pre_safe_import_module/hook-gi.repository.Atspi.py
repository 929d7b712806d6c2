# PyInstaller: gi.repository.Atspi exists only at run time; this makes the analysis load its hook.
# ruff: noqa


def pre_safe_import_module(api):
    api.add_runtime_module(api.module_name)
