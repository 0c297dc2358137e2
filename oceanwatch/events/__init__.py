"""Events: windows an operator should look at - models disagreeing, a model contradicting AIS truth,
high uncertainty - found in SQL by the rules in `rules`, listed and counted per hour by `query`."""
