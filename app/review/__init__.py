"""People in the loop: the review queue, labels and feedback (`actions`), the review pages (`pages`) and
their API (`api`)."""
