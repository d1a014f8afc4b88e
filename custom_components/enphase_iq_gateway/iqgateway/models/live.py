"""Live data: ``/ivp/livedata/status``, the gateway's power flows while its stream is on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from .parse import JSON, _dict, _int, _milli, _num, _time

PHASE_SUFFIXES = ("a", "b", "c")


@dataclass(frozen=True, slots=True)
class LivePower:
    """Live power of one flow (pv, grid, load, storage, generator), converted to W.

    ``phases`` holds the power of phases a, b, c where the gateway sent them.
    """

    power: float | None
    phases: tuple[float | None, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read one flow (milliwatts in the body)."""
        return cls(
            power=_milli(_num(data, "agg_p_mw")),
            phases=tuple(_milli(_num(data, f"agg_p_ph_{ph}_mw")) for ph in PHASE_SUFFIXES),
        )


LIVE_FLOWS = ("pv", "grid", "load", "storage", "generator")


@dataclass(frozen=True, slots=True)
class LiveData:
    """``GET /ivp/livedata/status``.

    The gateway refreshes it only while its live stream is on; ``last_update`` is when it
    last did (the gateway's clock).
    """

    last_update: datetime | None
    phase_count: int | None
    is_split_phase: bool | None
    soc: float | None
    backup_soc: float | None
    main_relay_state: int | None
    gen_relay_state: int | None
    encharge_soc: float | None
    encharge_energy: float | None
    acb_soc: float | None
    acb_energy: float | None
    flows: Mapping[str, LivePower]
    connection: Mapping[str, str]
    counters: Mapping[str, int]

    @classmethod
    def from_dict(cls, data: Mapping[str, JSON]) -> Self:
        """Read the meters, connection and counters sections."""
        meters = _dict(data.get("meters"))
        split = _int(meters, "is_split_phase")
        return cls(
            last_update=_time(meters, "last_update"),
            phase_count=_int(meters, "phase_count"),
            is_split_phase=None if split is None else bool(split),
            soc=_num(meters, "soc"),
            backup_soc=_num(meters, "backup_soc"),
            main_relay_state=_int(meters, "main_relay_state"),
            gen_relay_state=_int(meters, "gen_relay_state"),
            encharge_soc=_num(meters, "enc_agg_soc"),
            encharge_energy=_num(meters, "enc_agg_energy"),
            acb_soc=_num(meters, "acb_agg_soc"),
            acb_energy=_num(meters, "acb_agg_energy"),
            flows={
                name: LivePower.from_dict(meters[name])
                for name in LIVE_FLOWS
                if isinstance(meters.get(name), Mapping)
            },
            connection={
                str(k): v for k, v in _dict(data.get("connection")).items() if isinstance(v, str)
            },
            counters={
                str(k): int(v)
                for k, v in _dict(data.get("counters")).items()
                if isinstance(v, int) and not isinstance(v, bool)
            },
        )

    @property
    def streaming(self) -> bool:
        """The gateway says its live stream is on (``connection.sc_stream``), refreshing this."""
        return self.connection.get("sc_stream") == "enabled"
