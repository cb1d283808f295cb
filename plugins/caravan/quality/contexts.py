"""The process's Great Expectations contexts: ephemeral, defined in code, one per Data Docs site.

A process keeps one context per Data Docs site (and one without); each gate adds its
objects to it and removes them after (quality.validation), so gates share no state while
GX's caches and templates are set up once per process. GX objects are not thread-safe:
the gates of a process use the contexts one at a time (`held_gx_context`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from caravan.quality.docs import DataDocs


def gx_context(data_docs: DataDocs | None = None) -> Any:
    """An ephemeral GX context defined in code; with `data_docs`, validation results persist
    under `data_docs.store_dir` and the Data Docs site is `data_docs.site_dir`."""
    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores)
    sites: dict = {}
    if data_docs is not None:
        stores[defaults.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(Path(data_docs.store_dir) / "validations"),
                "suppress_store_backend_id": True,  # no shared id file for gates to race on
            },
        }
        # GX's own site builder over the same folder: `context.build_data_docs()` rebuilds
        # every page from the stored results. Gates use UpdateGateDocsAction instead.
        sites["caravan"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs.site_dir),
            },
            "site_section_builders": {"expectations": "None", "profiling": "None"},
        }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


# GX objects are not thread-safe: the gates of a process use its contexts one at a time.
_GX_LOCK = threading.RLock()
_SHARED_CONTEXTS: dict[DataDocs | None, Any] = {}
#: Contexts a process keeps, the most recently used: its gates use one (tests, a site each).
SHARED_CONTEXTS_KEPT = 4


def shared_gx_context(data_docs: DataDocs | None = None) -> Any:
    """The process's GX context for gates with these Data Docs (or none), made on first use.

    Each gate removes what it added to it (quality.validation), so it holds no gate's
    suite, data source or batch between gates; GX's validation results persist only with
    `data_docs` (under `store_dir`, as with a fresh context).
    """
    with _GX_LOCK:
        context = _SHARED_CONTEXTS.pop(data_docs, None)
        if context is None:
            context = gx_context(data_docs)
            # An ephemeral context "saves" its whole project config (every data source and
            # asset) into an in-memory store nothing reads back, on each change of a data
            # source, asset or batch definition: 2 to 3 ms each, four times a gate.
            context._save_project_config = _keep_project_config_in_memory
        _SHARED_CONTEXTS[data_docs] = context  # the most recently used last
        while len(_SHARED_CONTEXTS) > SHARED_CONTEXTS_KEPT:
            del _SHARED_CONTEXTS[next(iter(_SHARED_CONTEXTS))]
        return context


@contextmanager
def held_gx_context(data_docs: DataDocs | None = None) -> Iterator[Any]:
    """`shared_gx_context(data_docs)`, used by this thread alone for the block."""
    with _GX_LOCK:
        yield shared_gx_context(data_docs)


def _keep_project_config_in_memory() -> None:
    """The project config of an ephemeral context lives in the context itself."""


def reset_gx_contexts() -> None:
    """Forget the process's GX contexts: the next gate makes a new one."""
    with _GX_LOCK:
        _SHARED_CONTEXTS.clear()


def _after_fork_in_child() -> None:
    """A forked child starts afresh: its parent's lock may have been held by another thread."""
    global _GX_LOCK
    _GX_LOCK = threading.RLock()
    _SHARED_CONTEXTS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
