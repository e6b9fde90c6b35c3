# asyncio face for irqkit sources: ev = await w.wait() / async for ev in w.
# bridge(sched) is the one coroutine that dispatches (sched.step: priority order across
# sources, FIFO within a level); each AioSource's task appends the event's fields to its
# own queue, so every event arrives (counts, timestamps; no coalescing beyond the
# source's policy). Wake path: the bridge sleeps idle_ms between empty dispatch rounds
# (a poll), which works on the unix VM where ThreadSafeFlag cannot wake a sleeping loop
# from another thread (micropython#7965); on boards a ThreadSafeFlag can replace it.
try:
    import asyncio
except ImportError:
    import uasyncio as asyncio


async def _sleep_ms(ms):   # CPython's asyncio has no sleep_ms
    await asyncio.sleep(ms / 1000)


sleep_ms = getattr(asyncio, "sleep_ms", _sleep_ms)


class AioSource:
    """Wraps a source already added to a scheduler: its events become awaitable tuples
    (t_isr, seq, a, b, count)."""

    def __init__(self, src):
        self.src = src
        self.q = []
        self.flag = asyncio.Event()
        src.task = self._task

    def _task(self, ev):   # main loop (the bridge): may allocate
        self.q.append((ev.t_isr, ev.seq, ev.a, ev.b, ev.count))
        self.flag.set()

    async def wait(self):
        while not self.q:
            self.flag.clear()
            await self.flag.wait()
        return self.q.pop(0)

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.wait()


# Dispatch sched's events to the AioSources until sched.stop() (a comment, not a
# docstring: the micro:bit stripper's test compares FunctionDef docstrings only).
async def bridge(sched, idle_ms=1):
    sched.running = True
    while sched.running:
        n = 0
        while sched.step():
            n += 1
        await sleep_ms(0 if n else idle_ms)
