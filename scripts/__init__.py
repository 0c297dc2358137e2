"""Operations jobs (backups, maintenance) runnable as `python -m scripts.<job>`."""
