"""Human-readable summaries of recordings and stores (used by the CLI)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from neuroseq.data.recording import UNITS, Recording


def recording_summary(rec: Recording) -> dict[str, Any]:
    """Channels by kind, sampling rate, duration and event counts of a recording."""
    ev = rec.events
    counts = Counter(
        f"{k}/{v}" if k not in ("annotation",) else str(v)
        for k, v in zip(ev["kind"], ev["value"], strict=True))
    return {
        "source": rec.source, "subject": rec.subject, "session": rec.session, "task": rec.task,
        "channels": rec.sensors.counts(), "units": {k: UNITS[k] for k in rec.sensors.counts()},
        "sfreq": rec.sfreq, "n_samples": rec.n_times, "duration_s": round(rec.duration, 3),
        "n_events": len(ev), "events": dict(sorted(counts.items())),
    }


def format_recording(s: dict[str, Any]) -> str:
    """Text block for :func:`recording_summary`."""
    chans = ", ".join(f"{n} {k} ({s['units'][k]})" for k, n in s["channels"].items())
    lines = [f"{s['source']}",
             f"  subject {s['subject']}  session {s['session']}  task {s['task']}",
             f"  channels: {chans}",
             f"  sampling: {s['sfreq']:g} Hz, {s['n_samples']} samples = "
             f"{s['duration_s']:.1f} s ({s['duration_s'] / 60:.1f} min)",
             f"  events:   {s['n_events']}"]
    width = max((len(k) for k in s["events"]), default=0)
    lines += [f"    {k:<{width}}  {n}" for k, n in s["events"].items()]
    return "\n".join(lines)
