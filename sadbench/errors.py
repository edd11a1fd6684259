"""Exceptions that carry a message meant for the user: the CLI prints them without a traceback."""

import difflib


class SadbenchError(Exception):
    """A user-facing error: bad input, an unknown name, a failed plugin."""


class PluginError(SadbenchError):
    """A plugin failed to import, to register, or registered something invalid."""

    def __init__(self, plugin, message):
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class UnknownNameError(SadbenchError, KeyError):
    """A name that no plugin registered."""

    def __init__(self, kind, name, registered, owner=None):
        self.kind, self.name, self.registered = kind, name, sorted(registered)
        where = f" of {owner}" if owner else ""
        label = "valid" if owner else "registered"
        message = f"unknown {kind} {name!r}{where}; {label}: {', '.join(self.registered)}"
        close = difflib.get_close_matches(str(name), self.registered, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        super().__init__(message)

    def __str__(self):
        return self.args[0]
