"""Live updates of a run page: the events a client has not seen, as HTML fragments.

A client says the last sequence number it holds. Its page then holds exactly what
`RunPage` lists for that number, so every later event becomes: an append for what
is new (a batch badge, a timeline entry, the versions a batch published), and a
wholesale re-render of the small regions that summarise (header, stages, totals,
chart, DQ summary, quarantine, gate). A replayed batch re-renders its lists whole
instead of appending, so nothing shows twice; so does a client further behind than
the page's window of newest batches (see `RunPage`), which then holds what a reload
would show.
"""

from dataclasses import dataclass

from django.template.loader import render_to_string

from registry.models import Run
from registry.presenters import RunPage, event_batch_key


@dataclass
class Update:
    html: str
    seq: int
    finished: bool


def updates_since(run_id, seen):
    """The fragments that bring a page from `seen` to the run's newest event; None for an unknown run."""
    # Most polls find nothing new: one indexed read answers them.
    run = Run.objects.only("status", "last_seq").filter(pk=run_id).first()
    if run is None:
        return None
    if run.last_seq <= seen:
        return Update("", seen, not run.is_active)
    page = RunPage.load(run_id)
    if page is None:
        return None
    known = {event_batch_key(e) for e in page.events if e.kind == "batch" and e.seq <= seen}
    # A client further behind than the page's window of batches gets its lists whole, as after a replay.
    whole = page.window_start > seen
    new_batches = []
    for event in page.events_after(seen):
        if event.kind == "batch":
            key = event_batch_key(event)
            batch = page.batch_for(event)
            if key in known or event.payload.get(
                "replayed"
            ):  # the flag covers replays of batches older than the window
                whole = True
            elif batch is not None:
                known.add(key)
                new_batches.append(batch)
    html = render_to_string(
        "registry/run_update.html",
        {
            "run": page.run,
            "page": page,
            "oob": True,
            "whole": whole,
            "new_batches": [] if whole else new_batches,
            "new_versions": [] if whole else [v for b in new_batches for v in page.versions_of(b)],
            "new_entries": [e for e in page.timeline if e.seq > seen],
        },
    )
    return Update(html, page.seq, page.finished)
