"""Scripted runs of several systems that write reports: the quickstart, the EEGPT sweep,
the comparison of generative models."""
