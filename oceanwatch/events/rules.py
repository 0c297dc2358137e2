"""What makes a window an event, as SQL conditions shared by the events list and the review queue.

One rule per kind, written once: the review queue ranks windows by the same tests the live page's
events list and the home page's counts apply, so an event always leads to a review entry and back.
Predicted sets are compared as sets (`@>` both ways), so a multi-label model's order does not matter.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    DISAGREEMENT = "disagreement"
    CONTRADICTS_TRUTH = "contradicts_truth"
    HIGH_UNCERTAINTY = "high_uncertainty"


DESCRIPTIONS = {
    EventKind.DISAGREEMENT: "active models predict different classes",
    EventKind.CONTRADICTS_TRUTH: "a model's classes differ from unambiguous AIS truth",
    EventKind.HIGH_UNCERTAINTY: "a model's normalised predictive entropy is at or above the threshold",
}

# Predictions `p` of the active models only (`:active_status` bound to ModelStatus.ACTIVE).
ACTIVE_MODEL = "p.model_id in (select id from models where status = :active_status)"
# Over a window's predictions grouped together: more than one distinct answer.
DISTINCT_ANSWERS = "count(distinct p.predicted::text)"
DISAGREES = f"{DISTINCT_ANSWERS} > 1"
# AIS truth `t` of prediction `p`'s window at `:radius`, left out where it is ambiguous.
TRUTH_JOIN = "truth_labels t on t.window_id = p.window_id and t.radius_km = :radius and not t.ambiguous"
# Prediction `p` against its window's truth `t` (from TRUTH_JOIN).
CONTRADICTS_TRUTH = "not (t.classes::text[] @> p.predicted::text[] and p.predicted::text[] @> t.classes::text[])"
# Prediction `p` uncertain enough to be an event (`:entropy_min` bound to the threshold).
HIGH_UNCERTAINTY = "p.entropy >= :entropy_min"
