"""``[core] hostname_callable`` of the deployment's triggerers: each reports its own name as its host.

On a real deployment every triggerer runs on a machine (or pod) of its own; here they share one, so each
gets ``E2E_HOSTNAME`` (``triggerer-1.localhost``, ...). The name lands in the triggerer's ``job`` row,
which is how the fault tests find the process that holds a trigger (trigger -> ``triggerer_id`` -> job ->
hostname -> process) before they kill it.
"""

from __future__ import annotations

import os

__all__ = ["component_hostname"]


def component_hostname() -> str:
    """The host name this component was given (``E2E_HOSTNAME``)."""
    return os.environ["E2E_HOSTNAME"]
