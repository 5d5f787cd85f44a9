"""The registry of rule functions: the built-ins of every category, in
documentation order, plus those plugins register, and the registry the
rules over a model use (:func:`functions_for`)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import replace

from metacrm.metadata.model import installed_plugins
from metacrm.rules.functions.base import Function
from metacrm.rules.functions.dates import DATES
from metacrm.rules.functions.logical import LOGICAL
from metacrm.rules.functions.math import MATH
from metacrm.rules.functions.records import RECORDS
from metacrm.rules.functions.text import TEXT_FUNCTIONS


def builtin_functions() -> list[Function]:
    """Every built-in function, in documentation order."""
    return [*LOGICAL, *RECORDS, *TEXT_FUNCTIONS, *MATH, *DATES]


class FunctionRegistry:
    """The functions a rule may call, by upper-case name. Built-ins first;
    plugins add more with :meth:`register` (a name cannot be replaced)."""

    def __init__(self, functions: Iterable[Function] = ()):
        self._functions: dict[str, Function] = {}
        for function in functions:
            self.register(function)

    @classmethod
    def with_builtins(cls) -> FunctionRegistry:
        return cls(builtin_functions())

    def register(self, function: Function) -> None:
        if not isinstance(function, Function):
            raise TypeError(f"expected a metacrm.rules.functions.Function, not {type(function).__name__}")
        name = function.name.upper()
        if not name.isidentifier() or name in ("TRUE", "FALSE", "NULL", "IN"):
            raise ValueError(f"{function.name!r} cannot name a rule function")
        if name in self._functions:
            raise ValueError(f"a rule function named {name} already exists")
        if function.python is None and function.python_builder is None:
            raise ValueError(f"rule function {name} needs a Python implementation")
        self._functions[name] = function if function.name == name else _renamed(function, name)

    def get(self, name: str) -> Function | None:
        return self._functions.get(name.upper())

    def names(self) -> list[str]:
        return list(self._functions)

    def __contains__(self, name: str) -> bool:
        return name.upper() in self._functions

    def __iter__(self) -> Iterator[Function]:
        return iter(self._functions.values())

    def __len__(self) -> int:
        return len(self._functions)


def _renamed(function: Function, name: str) -> Function:
    return replace(function, name=name)


@functools.cache
def default_registry() -> FunctionRegistry:
    """The built-in functions only (shared; do not register into it)."""
    return FunctionRegistry.with_builtins()


def functions_for(model) -> FunctionRegistry:
    """The functions rules over ``model`` may call: the built-ins plus those
    of the built-in plugins and of the plugins installed in the model's
    tenant (``register_rule_functions`` is a tenant hook: docs/plugins.md);
    the built-ins alone for a model compiled without a plugin manager.
    Built once per model."""
    plugin_manager = getattr(getattr(model, "registry", None), "plugin_manager", None)
    if plugin_manager is None:
        return default_registry()

    def build() -> FunctionRegistry:
        if hasattr(plugin_manager, "for_tenant"):
            hooks = plugin_manager.for_tenant(installed_plugins(model.definitions))
        else:  # a bare pluggy manager (tools, tests): every plugin
            hooks = plugin_manager.hook
        return _with_functions(hooks.register_rule_functions())

    return model.memo(("rule_functions",), build)


def registry_from_plugins(pm) -> FunctionRegistry:
    """Built-ins plus every function the plugins return from the
    ``register_rule_functions`` hook (``pm`` is the plugin manager)."""
    hook = getattr(pm.hook, "register_rule_functions", None)
    return _with_functions(hook() if hook is not None else [])


def _with_functions(groups) -> FunctionRegistry:
    registry = FunctionRegistry.with_builtins()
    for functions in groups:
        for function in functions or ():
            registry.register(function)
    return registry
