"""``[devices]``: the device pool shared by the evaluator's workers and the agents' sandboxes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aar.config.base import Section
from aar.devices import DEVICE_PATTERN

Device = Annotated[str, Field(pattern=DEVICE_PATTERN)]


class DevicesConfig(Section):
    """The device pool, in one place: the evaluator's workers and the agents' sandboxes."""

    evaluator: list[Device] = []
    """One evaluator worker per device (``cuda:0``, ``cpu:1``); empty uses ``evaluator.device``."""
    sandboxes: list[Device] = []
    """Devices handed to the agents' sandboxes round-robin in team order; empty keeps ``sandbox.gpus``."""
    per_agent: Annotated[int, Field(ge=1, le=64)] = 1
    """Devices each agent gets from ``sandboxes``."""
    agents: dict[str, list[Device]] = {}
    """An explicit assignment by agent name (``alice = ["cuda:2"]``); the rest go round-robin."""
    share: bool = False
    """Allow a device to serve two agents, or an agent and the evaluator."""
