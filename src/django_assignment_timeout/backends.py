"""One machinery for pluggable backends: schedulers and notifiers alike.

In the manner of Django's ``BaseConnectionHandler`` and django-tasks'
handler: a setting maps aliases to ``{"BACKEND": "dotted.path", "OPTIONS":
{...}}``; :class:`BackendHandler` loads each with ``import_string``, checks it
is a subclass of the handler's base class, builds it as ``Backend(alias,
options)`` and keeps the instances until the setting changes. Every backend
derives from :class:`BaseBackend`, whose :meth:`~BaseBackend.check` reports
options it does not know. A backend module is imported only when a setting
names it, so an optional extra is never imported otherwise.
"""

from __future__ import annotations

import abc
import inspect
import threading
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from django.core.checks import CheckMessage, Error
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from django_assignment_timeout.conf import PREFIX, app_settings
from django_assignment_timeout.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ENTRY_SHAPE", "BackendHandler", "BaseBackend"]

B = TypeVar("B", bound="BaseBackend")

#: The shape every backend entry takes, for error messages.
ENTRY_SHAPE = '{"BACKEND": "dotted.path", "OPTIONS": {}}'


class BaseBackend(abc.ABC):  # noqa: B024 - each kind declares its abstract methods
    """Base class of every backend: an alias, its options, and its own checks."""

    #: OPTIONS keys this backend understands; any other key is reported by check().
    known_options: ClassVar[frozenset[str]] = frozenset()
    #: The setting this kind of backend is configured in (set by each base class).
    setting: ClassVar[str] = ""
    #: Check id for an unknown option (set by each base class).
    unknown_option_id: ClassVar[str] = ""

    def __init__(self, alias: str, options: Mapping[str, Any] | None = None) -> None:
        self.alias = alias
        self.options = dict(options or {})

    @property
    def where(self) -> str:
        """Where this backend is configured, as a user would write it."""
        return f"{self.setting}[{self.alias!r}]"

    def check(self) -> list[CheckMessage]:
        """System-check messages about this backend's configuration.

        The base reports unknown OPTIONS keys; backends extend it.
        """
        unknown = sorted(set(self.options) - self.known_options)
        if not unknown:
            return []
        return [
            Error(
                f"{self.where}['OPTIONS'] has unknown key(s) "
                f"{', '.join(map(repr, unknown))} for {type(self).__name__}.",
                hint=f"Known options: {', '.join(sorted(self.known_options)) or 'none'}.",
                id=self.unknown_option_id,
            )
        ]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias!r}>"


class BackendHandler(Generic[B]):
    """Loads the backends one setting configures, and caches them per value.

    ``single`` settings hold one entry (``ASSIGNMENT_TIMEOUT_SCHEDULER =
    {"BACKEND": ..., "OPTIONS": ...}``), served under the alias ``"default"``;
    the others map aliases to entries, like ``CACHES``. Instances are shared
    by threads; a change of the setting (``override_settings``) rebuilds them.
    """

    def __init__(self, setting: str, base: type, *, single: bool = False) -> None:
        # ``base`` is typed ``type``: the base classes are abstract, and mypy
        # accepts an abstract class only where ``type`` asks for none.
        self.setting = setting
        self.base = base
        self.single = single
        self._lock = threading.Lock()
        self._cache: tuple[str, dict[str, B]] | None = None
        setting_changed.connect(self._reset, dispatch_uid=f"backends:{setting}")

    def load(self, alias: str, entry: object) -> B:
        """Build backend ``alias`` from its ``{"BACKEND": ..., "OPTIONS": ...}`` entry."""
        where = self.setting if self.single else f"{self.setting}[{alias!r}]"
        if isinstance(entry, str) and self.single:
            entry = {"BACKEND": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("BACKEND"), str):
            raise ConfigurationError(f"{where} must be a dict like {ENTRY_SHAPE}.")
        # Only a missing OPTIONS means none: [] or "" is a wrong type.
        options = {} if entry.get("OPTIONS") is None else entry["OPTIONS"]
        if not isinstance(options, dict):
            raise ConfigurationError(f'{where}["OPTIONS"] must be a dict.')
        path = entry["BACKEND"]
        try:
            backend = import_string(path)
        except ConfigurationError:
            raise  # a missing extra names its pip command
        except ImportError as err:
            raise ConfigurationError(
                f"{where}: could not import backend {path!r}: {err}"
            ) from err
        if not (isinstance(backend, type) and issubclass(backend, self.base)):
            raise ConfigurationError(
                f"{where}: {path!r} is not a {self.base.__name__} subclass."
            )
        if inspect.isabstract(backend):
            missing = ", ".join(sorted(getattr(backend, "__abstractmethods__", ())))
            raise ConfigurationError(
                f"{where}: {path!r} is abstract; it must implement {missing}."
            )
        backend_class = cast("type[B]", backend)
        return backend_class(alias, options)

    def load_all(self, config: object) -> dict[str, B]:
        """Build every backend of a value shaped like the setting."""
        if self.single:
            return {"default": self.load("default", config)}
        if not isinstance(config, dict):
            raise ConfigurationError(
                f"{self.setting} must be a dict of aliases to backend dicts."
            )
        return {str(alias): self.load(str(alias), e) for alias, e in config.items()}

    def configured(self) -> object:
        """The setting's value now (read at each call, so override_settings applies)."""
        return getattr(app_settings, self.setting.removeprefix(f"{PREFIX}_"))

    def all(self) -> dict[str, B]:
        """The configured backends by alias (built once per setting value)."""
        config = self.configured()
        key = repr(config)
        cached = self._cache
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._lock:
            backends = self.load_all(config)
            self._cache = (key, backends)
        return backends

    def __getitem__(self, alias: str) -> B:
        return self.all()[alias]

    def _reset(self, setting: str, **kwargs: Any) -> None:
        if setting == self.setting:
            self._cache = None
