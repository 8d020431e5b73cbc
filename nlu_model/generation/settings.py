"""The shop's settings file (`dialogues/settings.yml`): the facts answers may state.

```yaml
shop_name: Kefu Demo Shop
support_phone: "+1 555 0100"
placeholders:            # optional: where a placeholder's value comes from
  Order Number: {slot: order_id}
  Customer Support Phone Number: {setting: support_phone}
```
Every value here counts as grounded: the guard lets an answer state it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .placeholders import DEFAULT_SOURCES

SETTINGS_FILE = "settings.yml"


class SettingsError(ValueError):
    """The settings file is not a mapping or names an unknown placeholder source."""


@dataclass
class ShopSettings:
    values: dict[str, str] = field(default_factory=dict)  # shop_name, support_phone, ...
    sources: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(DEFAULT_SOURCES))

    def to_dict(self) -> dict[str, Any]:
        return {**self.values, "placeholders": {name: {kind: key} for name, (kind, key) in self.sources.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, origin: str = "settings") -> ShopSettings:
        if not isinstance(data, dict):
            raise SettingsError(f"{origin}: expected a mapping of setting names to values")
        sources = dict(DEFAULT_SOURCES)
        for name, source in (data.get("placeholders") or {}).items():
            if not isinstance(source, dict) or len(source) != 1 or next(iter(source)) not in ("slot", "setting", "none"):
                raise SettingsError(f"{origin}: placeholder {name!r} needs one of {{slot: NAME}} or {{setting: KEY}}")
            kind, key = next(iter(source.items()))
            sources[str(name)] = (kind, str(key or ""))
        values = {str(k): str(v) for k, v in data.items() if k != "placeholders" and v is not None}
        return cls(values, sources)


def load_settings(path: str | Path | None) -> ShopSettings:
    """Read a settings file, or the `settings.yml` of a project folder; missing -> empty settings."""
    if path is None:
        return ShopSettings()
    path = Path(path)
    if path.is_dir():
        path = path / SETTINGS_FILE
    if not path.is_file():
        return ShopSettings()
    return ShopSettings.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, origin=str(path))
