// HLT until a timer interrupt: each iteration arms the PIT as a one-shot timer (mode 0) for 10 µs, the
// way a tickless kernel arms its next event, then waits for it (STI; HLT); the handler sends the EOI.
// The baseline arms the timer the same way but does not wait (re-arming restarts the count, so it never
// fires): one iteration is one timer period plus the latency of going idle and waking up. On the bare
// machine that is nothing more; type-1 adds the HLT exit, the virtual timer's injection and the EOI's
// I/O exit (whatever is not hidden inside the idle period); hosted, the vCPU thread blocks in the host
// and the host's timer interrupt must wake it and schedule it again.

import { loopWorkload } from "../harness/loop-workload.js";

const PIT_COUNT = 12; // at 1,193,182 Hz: 10.06 µs (30,170 cycles at 3 GHz)

const ARM = `  mov al, 0x30                  ; PIT channel 0, lobyte/hibyte, mode 0 (interrupt on terminal count)
  out 0x43, al
  mov al, ${PIT_COUNT & 0xff}
  out 0x40, al
  mov al, ${PIT_COUNT >>> 8}
  out 0x40, al`;

const PIC_INIT = `  ; 8259A pair: vectors 0x20-0x2F, only IRQ 0 unmasked
  mov al, 0x11
  out 0x20, al
  out 0xa0, al
  mov al, 0x20
  out 0x21, al
  mov al, 0x28
  out 0xa1, al
  mov al, 4
  out 0x21, al
  mov al, 2
  out 0xa1, al
  mov al, 1
  out 0x21, al
  out 0xa1, al
  mov al, 0xff
  out 0xa1, al
  mov al, 0xfe
  out 0x21, al`;

export default loopWorkload({
  name: "hlt",
  title: "HLT until a 10 µs one-shot timer fires (PIT IRQ 0, EOI to the PIC)",
  unit: "one timer wait",
  order: 100,
  iterations: { full: 5_000, quick: 200 },
  parts: {
    setup: PIC_INIT,
    body: `${ARM}\n  sti\n  hlt\n  cli`,
    vectors: [{ vector: 0x20, label: "timer_handler" }],
    extra: "timer_handler:\n  push eax\n  mov al, 0x20\n  out 0x20, al\n  pop eax\n  iretd",
  },
  baseline: { body: ARM },
});
