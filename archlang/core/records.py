"""Cheap data classes: ``@dataclass`` and ``@dataclass(frozen=True)`` with ``field(default=...,
default_factory=..., repr=...)``, the subset of :mod:`dataclasses` archlang uses, at a fraction of
its definition cost.

The standard decorator compiles six functions per frozen class and imports :mod:`inspect`: about
0.6 ms a class, and the static commands define some forty classes before they read a spec. Here
only ``__init__`` is generated (it runs once per syntax node, so it stays straight-line code);
equality, hashing, ``repr`` and frozenness are shared functions. ``dataclasses.fields``,
``dataclasses.replace`` and ``dataclasses.is_dataclass`` keep working: ``__dataclass_fields__``
is built, and :mod:`dataclasses` imported, the first time something asks for it."""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, TypeVar

T = TypeVar("T")
MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    """A field's options, as :func:`field` declares them."""

    __slots__ = ("name", "type", "default", "default_factory", "repr")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, repr: bool = True) -> None:
        self.name, self.type = "", ""
        self.default, self.default_factory, self.repr = default, default_factory, repr


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING, repr: bool = True) -> Any:
    """A field with a default, a default factory, or left out of ``repr``."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, repr)


def fields(cls_or_record: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in definition order."""
    return cls_or_record.__record_fields__


def replace(record: T, **changes: Any) -> T:
    """A copy of ``record`` with some fields changed (``dataclasses.replace``)."""
    for f in record.__record_fields__:  # type: ignore[attr-defined]
        if f.name not in changes:
            changes[f.name] = getattr(record, f.name)
    return record.__class__(**changes)


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _repr(self: Any) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__ if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> bool:
    if other.__class__ is self.__class__:
        return self.__record_key__(self) == other.__record_key__(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self.__record_key__(self))


class _StandardFields:
    """``__dataclass_fields__`` on demand, for code that inspects records with :mod:`dataclasses`."""

    def __get__(self, instance: Any, owner: type) -> dict[str, Any]:
        import dataclasses

        result = {}
        for f in owner.__record_fields__:
            std = dataclasses.field(default=dataclasses.MISSING if f.default is MISSING else f.default,
                                    default_factory=(dataclasses.MISSING if f.default_factory is MISSING
                                                     else f.default_factory), repr=f.repr)
            std.name, std.type, std._field_type = f.name, f.type, dataclasses._FIELD  # type: ignore[attr-defined]
            result[f.name] = std
        return result


_STANDARD_FIELDS = _StandardFields()


def _collect(cls: type) -> tuple[Field, ...]:
    found: list[Field] = []
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name, f.type = name, annotation
        if isinstance(value, Field):
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        found.append(f)
    return tuple(found)


def _init(cls: type, found: tuple[Field, ...], frozen: bool) -> Callable[..., None]:
    """``__init__`` as straight-line code: one function compiled per class."""
    namespace: dict[str, Any] = {"MISSING": MISSING}
    params, body = ["self"], []
    target = "_d" if frozen else "self"
    if frozen:
        body.append("_d = self.__dict__")
    for f in found:
        value = f.name
        if f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=MISSING")
            value = f"_factory_{f.name}() if {f.name} is MISSING else {f.name}"
        elif f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
        body.append(f"{target}['{f.name}'] = {value}" if frozen else f"self.{f.name} = {value}")
    if "__post_init__" in cls.__dict__:
        body.append("self.__post_init__()")
    required = [p for p in params[1:] if "=" not in p]
    optional = [p for p in params[1:] if "=" in p]
    if params[1:] != required + optional:
        raise TypeError(f"{cls.__name__}: a field without a default follows one with a default")
    source = f"def __init__({', '.join(params)}):\n    " + "\n    ".join(body or ["pass"]) + "\n"
    exec(source, namespace)  # names and defaults come from the class definition itself
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def dataclass(cls: type[T] | None = None, /, *, frozen: bool = False, repr: bool = True, eq: bool = True) -> Any:
    """A record class: ``__init__`` from the annotated fields, ``__repr__`` (unless ``repr`` is
    false), ``__eq__`` (unless ``eq`` is false), and for frozen records ``__hash__`` and read-only
    fields (mutable ones with ``eq`` are unhashable, as with :mod:`dataclasses`)."""

    def wrap(c: type[T]) -> type[T]:
        found = _collect(c)
        names = [f.name for f in found]
        setattr(c, "__record_fields__", found)
        setattr(c, "__record_key__", staticmethod(attrgetter(*names) if len(names) > 1 else
                                                  (lambda obj, n=names: tuple(getattr(obj, x) for x in n))))
        setattr(c, "__match_args__", tuple(names))
        setattr(c, "__dataclass_fields__", _STANDARD_FIELDS)
        c.__init__ = _init(c, found, frozen)  # type: ignore[misc]
        for name, method, wanted in (("__repr__", _repr, repr), ("__eq__", _eq, eq)):
            if wanted and name not in c.__dict__:
                setattr(c, name, method)
        if frozen:
            c.__setattr__, c.__delattr__ = _frozen_setattr, _frozen_delattr  # type: ignore[method-assign, assignment]
        if frozen and eq:
            c.__hash__ = _hash  # type: ignore[method-assign, assignment]
        elif eq and ("__hash__" not in c.__dict__ or c.__dict__["__hash__"] is None):
            c.__hash__ = None  # type: ignore[assignment]
        return c

    return wrap if cls is None else wrap(cls)
