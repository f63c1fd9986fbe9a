"""What a reference holds, summarised for ``reference show`` and the faces."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .schema import BenchmarkInfo, Edge
from .sources import SourceInfo


@dataclass(frozen=True)
class BenchmarkSummary:
    """Per-benchmark counts for ``reference show``."""

    info: BenchmarkInfo
    n_scored: int
    n_with_items: int


@dataclass(frozen=True)
class ReferenceSummary:
    """What a reference holds, for ``reference show`` and the faces."""

    path: str
    n_models: int
    n_with_data: int
    benchmarks: tuple[BenchmarkSummary, ...]
    edges_by_relation: dict[str, int]
    dropped: tuple[tuple[Edge, str], ...]
    sources: tuple[SourceInfo, ...]
    fingerprint: str

    def format(self, max_dropped: int = 10) -> str:
        """Human-readable multi-line text."""
        lines = [f"reference {self.path} (fingerprint {self.fingerprint})",
                 f"models: {self.n_models} ({self.n_with_data} with scores or items, "
                 f"{self.n_models - self.n_with_data} lineage/metadata only)", "benchmarks:"]
        if not self.benchmarks:
            lines.append("  (none)")
        for b in self.benchmarks:
            i = b.info
            items = (f"{i.n_items} items ({'complete' if i.items_complete else 'subset'}) x {b.n_with_items} models"
                     if i.n_items else "no items")
            lines.append(f"  {i.name:<14} suite {i.suite or '-':<6} scores: {b.n_scored:>6} models   {items}")
        total = sum(self.edges_by_relation.values())
        lines.append(f"lineage edges: {total} (" + ", ".join(
            f"{r} {n}" for r, n in self.edges_by_relation.items()) + ")")
        by_reason: dict[str, int] = defaultdict(int)
        for _, reason in self.dropped:
            by_reason[reason] += 1
        lines.append(f"dropped edges: {len(self.dropped)}" + (
            " (" + ", ".join(f"{r}: {n}" for r, n in sorted(by_reason.items())) + ")" if self.dropped else ""))
        for e, reason in self.dropped[:max_dropped]:
            lines.append(f"  {e.parent} -> {e.child} [{e.relation}]: {reason}")
        if len(self.dropped) > max_dropped:
            lines.append(f"  ... and {len(self.dropped) - max_dropped} more")
        lines.append("sources:")
        if not self.sources:
            lines.append("  (none)")
        for s in self.sources:
            lines.append(f"  [{s.id}] {s.kind:<15} {s.imported_at}  {s.location}  ({s.n_models} models, "
                         f"{s.n_scores} scores, {s.n_observations} observations, {s.n_edges} edges)")
            lines.extend(f"      {note}" for note in s.notes)
        return "\n".join(lines)
