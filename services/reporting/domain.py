"""Pure shaping of reporting views. No I/O here."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence

from chungtay_common.contracts.registration import UnitKind
from chungtay_common.hierarchy import UnitOnDate
from services.reporting.schemas import TreeNode


def build_tree(units: Sequence[UnitOnDate]) -> list[TreeNode]:
    """Nest the units active on a day; a unit whose parent is not active that day is a root."""
    by_id = {u.unit_id: u for u in units}
    children: dict[uuid.UUID | None, list[UnitOnDate]] = defaultdict(list)
    for u in units:
        parent = u.parent_id if u.parent_id in by_id else None
        children[parent].append(u)

    def node(u: UnitOnDate, path: frozenset[uuid.UUID]) -> TreeNode:
        kids = [node(c, path | {c.unit_id}) for c in children[u.unit_id] if c.unit_id not in path]
        below: Counter[UnitKind] = Counter()
        for k in kids:
            below[k.kind] += 1
            below.update(k.below)
        return TreeNode(unit_id=u.unit_id, kind=u.kind, code=u.code, name=u.name,
                        subkind=u.subkind, below=dict(below), children=kids)

    return [node(u, frozenset({u.unit_id})) for u in children[None]]


def totals(units: Sequence[UnitOnDate]) -> dict[UnitKind, int]:
    return dict(Counter(u.kind for u in units))
