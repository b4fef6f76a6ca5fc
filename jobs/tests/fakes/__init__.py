"""Fake provider servers on loopback, one module per provider, each written from
the provider's documented API, with the Harness the contract suite drives it by
(jobs/tests/contract.py). A module here that defines `Harness` joins the suite."""

import importlib
import pkgutil


def harnesses():
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.name != "server":
            loaded = importlib.import_module(f"{__name__}.{module.name}")
            if hasattr(loaded, "Harness") and loaded.Harness.__module__ == loaded.__name__:
                found.append(loaded.Harness)
    return sorted(found, key=lambda h: h.name)
