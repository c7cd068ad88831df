"""Writing a config back as TOML (``runs/<id>/config.toml``), so a resume runs what ran.

tomli-w quotes every key that needs it (a model id with dots in
``[anthropic.prices."claude-3.5-x"]``), so what is written reads back as the same config.
"""

from __future__ import annotations

import tomli_w

from aar.config.models import RunConfig


def dump_config(config: RunConfig) -> str:
    """The config as TOML that :func:`aar.config.load_config` reads back to an equal config."""
    return tomli_w.dumps(config.model_dump(mode="json", exclude_none=True))
