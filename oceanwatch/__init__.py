"""Shared domain code of the acoustic inference platform: config, database, messages, Kafka, stack."""
