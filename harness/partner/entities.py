"""What the partner holds: entities by namespace and key, created by the first effect."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Entity:
    """One thing the partner holds (a contact, a ticket), with every id its effects minted."""

    key: str
    ids: list[str] = field(default_factory=list)
    version: int | None = None
    effects: int = 0
    # Top-level fields of every applied request body, later ones winning, so a
    # read route can answer with what the partner was told last.
    data: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """What templates see as `{entity.*}`."""
        return {
            "id": self.ids[0] if self.ids else None,
            "ids": list(self.ids),
            "version": self.version,
            "key": self.key,
            "effects": self.effects,
            "data": dict(self.data),
        }

    def state(self) -> dict[str, Any]:
        """What the simulator's /__admin/state reports for this entity."""
        return {"ids": list(self.ids), "version": self.version, "effects": self.effects,
                "data": dict(self.data)}  # fmt: skip


class EntityStore:
    """The partner's side of the world:
    entities by namespace and key; the ledger says how they got so."""

    def __init__(self) -> None:
        self._entities: dict[str, dict[str, Entity]] = defaultdict(dict)
        self._sequence: dict[str, int] = defaultdict(int)

    def get(self, entity: str, key: str) -> Entity | None:
        """The entity, or None when no effect has created it yet."""
        return self._entities.get(entity, {}).get(key)

    def apply(
        self, entity: str, key: str, version: int | None, body: Any, *, new_id: bool
    ) -> tuple[Entity, str]:
        """Record one effect; returns the entity and the id the effect is about.

        `new_id` (a route that does not need the entity to exist, i.e. a
        create) mints `<entity>_000001`-style ids, one per effect, so a
        duplicated create shows up as a second id. Otherwise the effect is
        about the entity's latest id.
        """
        record = self._entities[entity].setdefault(key, Entity(key=key))
        if new_id or not record.ids:
            self._sequence[entity] += 1
            record.ids.append(f"{entity}_{self._sequence[entity]:06d}")
        if version is not None:
            record.version = version
        record.effects += 1
        if isinstance(body, dict):
            record.data.update(body)
        return record, record.ids[-1]

    def state(self) -> dict[str, dict[str, Any]]:
        """Every non-empty namespace with its entities, for the admin state."""
        return {
            name: {key: e.state() for key, e in entities.items()}
            for name, entities in self._entities.items()
            if entities
        }

    def clear(self) -> None:
        self._entities.clear()
        self._sequence.clear()
