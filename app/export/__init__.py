"""Downloads for training elsewhere: labelled datasets and model packages (`api`)."""
