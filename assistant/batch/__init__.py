"""Batch work handed to a distributed engine (Ray): embedding and pre-coding a large corpus in blocks,
with the project store kept the single source of truth. One machine needs none of it."""
