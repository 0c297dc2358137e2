"""The simulated world: seeded ship traffic, its AIS reports and its sound, on one clock."""
