# Statistics as plain dicts, for the link and for people. Allocates freely: call it from
# the main loop, never from an ISR. Separate from the core so a small board that never
# reports does not pay for it.
from irqkit.ring import (R_PUT, R_OVERFLOW, R_MERGED, R_HWM, R_TAKEN, R_MERGED_SEEN, R_DEFERRED,
                         ST_TRIGGERS, ST_DEBOUNCED, ST_ERRORS, ST_LAT_MAX, ST_DELIVERED,
                         ST_HIST, HIST_BUCKETS, pending)


def ring_counters(ring):
    c = ring.ctl
    return {"put": c[R_PUT], "taken": c[R_TAKEN], "overflow": c[R_OVERFLOW],
            "merged": c[R_MERGED], "hwm": c[R_HWM], "pending": pending(ring),
            "deferred": c[R_DEFERRED]}


def source_stats(src):
    st = src.st
    d = ring_counters(src.ring)
    d.update({"triggers": st[ST_TRIGGERS], "debounced": st[ST_DEBOUNCED],
            "errors": st[ST_ERRORS], "lat_max_us": st[ST_LAT_MAX],
            "delivered": st[ST_DELIVERED], "masked": src.masked, "prio": src.prio,
            "mode": src.mode, "hist": [st[ST_HIST + i] for i in range(HIST_BUCKETS)]})
    return d


def stats(sched):
    """Every counter of the scheduler and its sources."""
    e = sched.last_error
    d = {"errors": sched.errors, "dispatched": sched.dispatched, "idles": sched.idles,
         "crit_max_us": sched.crit.max_us, "crit_entries": sched.crit.entries,
         "last_error": None if e is None else "%s: %s" % (type(e).__name__, e),
         "last_error_source": sched.last_error_source, "sources": {}}
    for s in sched.sources:
        d["sources"][s.name] = source_stats(s)
    for p in sched.polled:   # storm guards (irqkit.storm): mode in force, transitions
        g = getattr(p, "src", None)
        if g is not None and p is not g:
            d["sources"][g.name]["storm"] = p.stats()
    pc = getattr(sched.port, "counters", None)   # port-level losses, e.g. keypad overflow
    if pc is not None:
        d["port"] = pc()
    return d


def reset(sched):
    """Zero every statistic; pending events stay pending."""
    sched.errors = 0
    sched.dispatched = 0
    sched.idles = 0
    sched.last_error = None
    sched.last_error_source = None
    sched.crit.max_us = 0
    sched.crit.entries = 0
    for s in sched.sources:
        st = s.st
        for i in range(len(st)):
            st[i] = 0
        c = s.ring.ctl
        # Zero the counters the producer owns with that source's ISR unable to run.
        sched.crit.enter()
        for i in (R_PUT, R_OVERFLOW, R_HWM, R_TAKEN, R_DEFERRED):
            c[i] = 0
        c[R_MERGED] = c[R_MERGED] - c[R_MERGED_SEEN]  # merges not yet delivered stay
        c[R_MERGED_SEEN] = 0
        sched.crit.exit()


def hist_bucket_floor(b):
    """Smallest latency (us) counted in histogram bucket b."""
    return 0 if b == 0 else 1 << (b - 1)


def find(sched, name):
    for s in sched.sources:
        if s.name == name:
            return s
    return None
