"""Recordings in, a store and torch datasets out: readers, events, preprocessing, splits, the
zarr store, windows and epochs, multi-task epochs, the simulator and the sample data."""
