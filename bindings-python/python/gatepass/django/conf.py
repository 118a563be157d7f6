"""The ``GATEPASS`` settings dict and the process's one :class:`gatepass.Gate`."""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional

from django.conf import settings
from django.core.signals import setting_changed

from .. import Gate

DEFAULTS: Dict[str, Any] = {
    "STORE": None,  # $GATEPASS_STORE, else sqlite:///gatepass.db
    "POLICY": None,
    "RATE_LIMITER": None,  # $GATEPASS_RATE_LIMITER, else memory:// (redis://… for several processes)
    "PROTECT_PATHS": [],
}

_lock = threading.Lock()
_gate: Optional[Gate] = None


def gatepass_settings() -> Dict[str, Any]:
    user = getattr(settings, "GATEPASS", {}) or {}
    unknown = set(user) - set(DEFAULTS)
    if unknown:
        from ..exceptions import ConfigError

        raise ConfigError(f"unknown GATEPASS settings: {sorted(unknown)}", code="config_error")
    return {**DEFAULTS, **user}


def protected_paths() -> List[str]:
    return list(gatepass_settings()["PROTECT_PATHS"])


def get_gate() -> Gate:
    """The gate configured by ``settings.GATEPASS`` (created on first use)."""
    global _gate
    gate = _gate
    if gate is None:
        with _lock:
            if _gate is None:
                conf = gatepass_settings()
                policy = conf["POLICY"]
                _gate = Gate(
                    conf["STORE"],
                    policy=str(policy) if hasattr(policy, "__fspath__") else policy,
                    rate_limiter=conf["RATE_LIMITER"],
                )
            gate = _gate
    return gate


def reset_gate() -> None:
    """Drops the gate (after a settings change); usage is flushed first."""
    global _gate
    with _lock:
        if _gate is not None:
            _gate.flush()
        _gate = None


def _on_setting_changed(setting: str, **_kwargs: Any) -> None:
    if setting == "GATEPASS":
        reset_gate()


setting_changed.connect(_on_setting_changed)
