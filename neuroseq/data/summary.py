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


def store_summary(store: Any) -> dict[str, Any]:
    """Recordings, channels, sampling rates, split seconds, preprocessing and event counts of a
    prepared store."""
    ids = list(store.ids)
    pipe = store.pipeline(ids[0]) if ids else None
    events: Counter = Counter()
    channels: Counter = Counter()
    for rid in ids:
        ev = store.events(rid)
        events.update(f"{k}/{v}" if k == "word" else str(v) if k == "annotation" else f"{k}/{v}"
                      for k, v in zip(ev["kind"], ev["value"], strict=True))
        channels.update({f"{n} {k}": 1 for k, n in store.sensors(rid).counts().items()})
    split = store.split.summary() if store.split is not None else None
    n_words = sum(n for k, n in events.items() if k.startswith("word/"))
    shown = {k: n for k, n in events.items() if not k.startswith(("word/", "phoneme/"))}
    return {"store": str(store.path), "recordings": len(ids),
            "subjects": sorted({store.subject(r) for r in ids}),
            "sfreq": sorted({float(store.sfreq(r)) for r in ids}),
            "duration_s": round(sum(store.n_samples(r) / store.sfreq(r) for r in ids), 1),
            "channel_sets": dict(channels), "split": store.split.spec.method
            if store.split is not None else None, "split_seconds": split,
            "pipeline": [s.name for s in pipe.steps] if pipe is not None else [],
            "n_events": sum(events.values()), "word_events": n_words,
            "events": dict(sorted(shown.items())[:30])}


def format_store(s: dict[str, Any]) -> str:
    """Text block for :func:`store_summary`."""
    lines = [f"{s['store']}: prepared store, {s['recordings']} recording(s) of "
             f"{len(s['subjects'])} subject(s), {s['duration_s']:.1f} s in all",
             f"  sampling: {', '.join(f'{f:g}' for f in s['sfreq'])} Hz",
             "  channels: " + "; ".join(f"{k} ({n} recording(s))"
                                        for k, n in s["channel_sets"].items()),
             f"  pipeline: {' → '.join(s['pipeline']) or 'none'}"]
    if s["split_seconds"] is None:
        lines.append("  split:    none (every sample is training data)")
    else:
        sec = s["split_seconds"]
        total = max(sum(sec.values()), 1e-9)
        lines.append(f"  split:    {s['split']}: " + ", ".join(
            f"{k} {v:.1f} s ({100 * v / total:.0f} %)" for k, v in sec.items()))
    lines.append(f"  events:   {s['n_events']} ({s['word_events']} word events)")
    width = max((len(k) for k in s["events"]), default=0)
    lines += [f"    {k:<{width}}  {n}" for k, n in s["events"].items()]
    return "\n".join(lines)
