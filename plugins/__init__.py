"""The built-in plugins. Each is an ordinary plugin, found through the
``gateway`` entry-point group like any third-party one."""
