# A complete irqkit app: a debounced button toggles an LED, a 1 kHz timer samples the
# button, text commands arrive on the console, and a critical section reads counters the
# interrupt handlers write. The same file runs on a Raspberry Pi Pico and on the
# simulator (`irqkit sim --board pico`): both are MachinePort, MicroPython's `machine`.
#
#   mpremote connect PORT cp firmware/examples/button_led.py :main.py + repl
#   (Ctrl-D: soft reset, main.py starts; type `status`, `led on`, `help`; Ctrl-C stops it)
#
# Pins (boards/pico.json numbering): button on GP15 (to 3V3: a press is a rising edge),
# LED on GP25 (the Pico's on-board LED; a Pico W names it "LED").
# MicroPython 1.9 syntax (no f-strings), like the irqkit core.
import machine

from irqkit.sched import Scheduler
from irqkit.hwsource import GpioSource, TimerSource, UartSource
from irqkit.polled import PolledSource
from irqkit.brk import Break
from irqkit.report import source_stats
from irqkit.ports.machine_port import MachinePort

BUTTON = 15
LED = 25
DEBOUNCE_US = 20000      # edges closer than 20 ms to the last accepted one are bounce
SAMPLE_US = 1000         # 1 kHz sampling timer

port = MachinePort()
sched = Scheduler(port)
state = {"led": 0, "presses": 0, "samples": 0, "high": 0}
rx = bytearray(32)
line = bytearray()
brk = Break(port)


def on_press(ev):
    # runs in the main loop, after the GPIO ISR captured the edge (ev.t_isr: its time)
    state["presses"] += 1
    state["led"] ^= 1
    port.pin_write(LED, state["led"])
    print("press %d: led %d" % (state["presses"], state["led"]))


def on_sample(ev):
    # every timer tick (ev.count > 1 if ticks coalesced while the loop was busy)
    state["samples"] += ev.count
    if button.value():
        state["high"] += ev.count


def status():
    # The GPIO ISR writes the button source's counters: read them in one piece, with
    # interrupts held off for as short as possible (sched.crit.max_us: the longest hold)
    with sched.crit:
        st = source_stats(btn)
    print("status: led=%d presses=%d edges=%d debounced=%d samples=%d high=%d" % (
        state["led"], state["presses"], st["triggers"], st["debounced"],
        state["samples"], state["high"]))


def command(text):
    if text == "status":
        status()
    elif text == "led on" or text == "led off":
        state["led"] = 1 if text == "led on" else 0
        port.pin_write(LED, state["led"])
        print("led %d" % state["led"])
    elif text == "help":
        print("commands: status | led on | led off | help   (Ctrl-C stops the app)")
    elif text:
        print("? %s (try: help)" % text)


def on_rx(ev):
    # the console's bytes: commands end with Enter; the break rule sees every byte
    global line
    n = port.serial_read(rx)
    brk.feed(rx, n)
    for i in range(n):
        c = rx[i]
        if c == 13 or c == 10:
            command(line.decode().strip())
            line = bytearray()
        elif c >= 32 and len(line) < 64:
            line.append(c)


btn = sched.add(GpioSource("button", on_press, pin=BUTTON, trigger="rising",
                           debounce_us=DEBOUNCE_US, prio=3))
# the pull-down keeps a button to 3V3 low while open (after the port set the pin up)
button = machine.Pin(BUTTON, machine.Pin.IN, machine.Pin.PULL_DOWN)
sched.add(TimerSource("sample", on_sample, period_us=SAMPLE_US, prio=4))
try:
    sched.add(UartSource("console", on_rx, prio=2))   # a UART console with an RX IRQ
except NotImplementedError:                           # USB CDC (Pico): poll it
    sched.add(PolledSource("console", on_rx, port.serial_any, 2000, prio=2))
# Where the console's Ctrl-C is data (a UART RX handler owns the link), a 0x03 followed
# by a quiet line stops the app, and mpremote's raw-REPL request is answered; elsewhere
# MicroPython's own Ctrl-C raises KeyboardInterrupt first.
brk.attach(sched, kbd_off=False)

print("button_led: ready (button GP%d, LED GP%d; type help)" % (BUTTON, LED))
try:
    sched.run()
except KeyboardInterrupt:
    print("button_led: stopped")
finally:
    sched.close()   # every handler detached, Ctrl-C back: the REPL works again
