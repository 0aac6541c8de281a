"""Finding, switching and loading plugins.

Plugins come from three places: this distribution's own entry points (the
built-ins in ``plugins/``), other installed distributions declaring the
``gateway`` entry-point group, and ``.py`` files or packages in the folders
listed in ``[server] plugin_dirs``. Each is loaded on its own, so one that
fails to import is recorded and the rest still load.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pluggy

from . import hookspecs
from .config import Config

ENTRY_POINT_GROUP = "gateway"
_OWN_DISTRIBUTION = "llm-gateway"

log = logging.getLogger("gateway.plugins")


class PluginInfo(msgspec.Struct, kw_only=True):
    name: str
    # "builtin", "entrypoint" or "plugin_dir"
    source: str
    version: str | None = None
    location: str = ""
    enabled: bool = True
    # Set when the plugin was enabled but could not be loaded.
    error: str | None = None


class PluginHost:
    """The plugin manager plus what was found, for ``/api/plugins`` and the CLI."""

    def __init__(self, config: Config) -> None:
        self.pm = pluggy.PluginManager("gateway")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        for name, enabled in config.plugins.items():
            if not enabled:
                self.pm.set_blocked(name)
        self._load_entry_points()
        for folder in config.server.plugin_dirs:
            self._load_folder(Path(folder))
        found = {p.name for p in self.plugins}
        for name in config.plugins:
            if name not in found:
                log.warning("config [plugins] names %r, but no such plugin was found", name)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every plugin's implementation of a build-time hook on its own,
        in the order the plugins were loaded, and return their results.

        A plugin whose implementation raises is treated like one that failed
        to import: reported with the error and unregistered, so that one
        broken plugin does not stop the gateway from starting.
        """
        results = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                result = impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception as exc:
                self.reject(impl.plugin_name, f"{hook_name} failed: {_one_line(exc)}",
                            traceback.format_exc())
                continue
            results.append(result)
        return results

    def reject(self, name: str, error: str, details: str = "") -> None:
        """Unload the loaded plugin ``name`` and report ``error`` for it."""
        self.pm.unregister(name=name)
        info = next(p for p in self.plugins if p.name == name and p.enabled and p.error is None)
        info.error = error
        log.error("plugin %s (%s) not loaded: %s%s", name, info.location, error,
                  "\n" + details if details else "")

    def _load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist
            source = "builtin" if dist and dist.name == _OWN_DISTRIBUTION else "entrypoint"
            info = PluginInfo(
                name=ep.name, source=source, version=dist.version if dist else None,
                location=ep.value,
            )
            self._load(info, ep.load)

    def _load_folder(self, folder: Path) -> None:
        if not folder.is_dir():
            self.plugins.append(PluginInfo(
                name=folder.name, source="plugin_dir", location=str(folder),
                error="plugin folder does not exist",
            ))
            return
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith(("_", ".")):
                continue
            if entry.suffix == ".py" and entry.is_file():
                name, init, search = entry.stem, entry, None
            elif (entry / "__init__.py").is_file():
                name, init, search = entry.name, entry / "__init__.py", [str(entry)]
            else:
                continue
            info = PluginInfo(name=name, source="plugin_dir", location=str(entry))
            self._load(info, lambda n=name, i=init, s=search: _import_file(n, i, s))

    def _load(self, info: PluginInfo, importer: Callable[[], object]) -> None:
        self.plugins.append(info)
        if self.pm.is_blocked(info.name):
            info.enabled = False
            return
        if self.pm.has_plugin(info.name):
            info.error = f"another plugin named {info.name!r} is already loaded"
            log.error("plugin %s (%s) not loaded: %s", info.name, info.location, info.error)
            return
        try:
            module = importer()
            self.pm.register(module, name=info.name)
        except Exception as exc:
            info.error = _one_line(exc)
            log.error("plugin %s (%s) failed to load: %s\n%s", info.name, info.location,
                      info.error, traceback.format_exc())
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=info.name)
            info.error = _one_line(exc)
            log.error("plugin %s (%s) not loaded: %s", info.name, info.location, info.error)


def _import_file(name: str, init: Path, search: list[str] | None) -> object:
    # A private namespace keeps drop-in modules from shadowing real packages.
    module_name = f"gateway_plugin_dir.{name}"
    spec = importlib.util.spec_from_file_location(
        module_name, init, submodule_search_locations=search
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
