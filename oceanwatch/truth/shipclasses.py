"""AIS ship-type designations (ITU-R M.1371) and the default ship classes of the platform.

These are only defaults: the database holds the editable classes and mapping (the
relabelling page changes them), and the initial migration seeds them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

BACKGROUND_CLASS = "E"


@dataclass(frozen=True)
class ShipClassDefault:
    code: str
    name: str
    description: str
    color: str
    is_background: bool = False


DEFAULT_CLASSES: tuple[ShipClassDefault, ...] = (
    ShipClassDefault(
        "A", "Working vessels", "Fishing, tug, towing, dredging, research, SAR, law enforcement", "#1b9e77"
    ),
    ShipClassDefault("B", "Small craft", "Pleasure craft, sailing, pilot, diving", "#d95f02"),
    ShipClassDefault("C", "Passenger", "Passenger ships, ferries, high-speed craft, cruise ships", "#7570b3"),
    ShipClassDefault(
        "D", "Large commercial and military", "Cargo, tanker, container, bulk carrier, military", "#e7298a"
    ),
    ShipClassDefault(
        BACKGROUND_CLASS, "No ship", "No vessel within range: ambient ocean noise", "#666666", is_background=True
    ),
)


def designation(ship_type: int) -> str:
    """The ITU-R M.1371 text of an AIS ship-type code 0-99."""
    if not 0 <= ship_type <= 99:
        raise ValueError(f"AIS ship type must be 0-99, got {ship_type}")
    fixed = {
        0: "Not available",
        20: "Wing in ground (WIG)",
        30: "Fishing",
        31: "Towing",
        32: "Towing: length exceeds 200 m or breadth exceeds 25 m",
        33: "Dredging or underwater ops",
        34: "Diving ops",
        35: "Military ops",
        36: "Sailing",
        37: "Pleasure craft",
        40: "High speed craft (HSC)",
        49: "High speed craft (HSC), no additional information",
        50: "Pilot vessel",
        51: "Search and rescue vessel",
        52: "Tug",
        53: "Port tender",
        54: "Anti-pollution equipment",
        55: "Law enforcement",
        58: "Medical transport",
        59: "Noncombatant ship",
        60: "Passenger",
        69: "Passenger, no additional information",
        70: "Cargo",
        79: "Cargo, no additional information",
        80: "Tanker",
        89: "Tanker, no additional information",
        90: "Other type",
        99: "Other type, no additional information",
    }
    if ship_type in fixed:
        return fixed[ship_type]
    if 1 <= ship_type <= 19 or 38 <= ship_type <= 39:
        return "Reserved for future use"
    if ship_type in (56, 57):
        return "Spare: local vessel"
    group, digit = divmod(ship_type, 10)
    base = {
        2: "Wing in ground (WIG)",
        4: "High speed craft (HSC)",
        6: "Passenger",
        7: "Cargo",
        8: "Tanker",
        9: "Other type",
    }[group]
    if 1 <= digit <= 4:
        return f"{base}, hazardous category {'ABCD'[digit - 1]}"
    return f"{base}, reserved for future use"


def default_class(ship_type: int) -> str | None:
    """The default class of an AIS ship-type code, or None when the type says too little."""
    if ship_type in (30, 31, 32, 33, 51, 52, 53, 54, 55, 58):
        return "A"
    if ship_type in (34, 36, 37, 50):
        return "B"
    if 40 <= ship_type <= 49 or 60 <= ship_type <= 69:
        return "C"
    if ship_type == 35 or 70 <= ship_type <= 89:
        return "D"
    return None


def reference_rows() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Default rows of `ship_classes` and `class_mappings`, as the initial migration seeds them."""
    classes = [
        {
            "code": c.code,
            "name": c.name,
            "description": c.description,
            "is_background": c.is_background,
            "active": True,
            "sort_order": i,
            "color": c.color,
        }
        for i, c in enumerate(DEFAULT_CLASSES)
    ]
    mappings: list[dict[str, object]] = [
        {"ship_type": t, "designation": designation(t), "class_code": default_class(t)} for t in range(100)
    ]
    return classes, mappings
