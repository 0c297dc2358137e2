"""Truth from AIS: ship classes, the labelling rule, stored labels and the class mapping."""
