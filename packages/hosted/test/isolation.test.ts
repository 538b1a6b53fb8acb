// A crash of one VM's VMM process takes down that VM only: the other VMs and the host run on.
import { assembleOrThrow } from "@vmxlab/cpu";
import { describe, expect, it } from "vitest";
import { HostedSystem } from "../src/index.js";
import { bare, cProgram, guestVisible } from "./helpers.js";

const COM1_WRITER = assembleOrThrow(`
bits 32
org 0x100000
  mov ecx, 20
.p:
  mov al, '*'
  out 0xe9, al           ; the console works
  dec ecx
  jnz .p
  mov dx, 0x3f8
  mov al, 'x'
  out dx, al             ; the COM1 model of this VM's VMM is broken
  mov eax, 1
  out 0xf4, eax
`).bytes;

describe("a VMM process crash takes down its VM only", () => {
  for (const paging of ["ept", "shadow"] as const) {
    it(`${paging}: the device model fails, the VMM aborts, the kernel kills it; the other VM and the host job finish their work`, () => {
      const good = cProgram("printf-O2.elf");
      const system = new HostedSystem(
        [
          { name: "good", memoryMiB: 16, image: good },
          { name: "bad", memoryMiB: 4, image: COM1_WRITER, deviceFault: { port: 0x3f8, message: "UART model bug" } },
        ],
        { paging, hostJobs: ["cpu"] },
      );
      let crashedAt = -1;
      const exit = system.kernel.hooks.processExit!;
      system.kernel.hooks.processExit = (proc) => {
        if (proc.name === "vmm:bad") crashedAt = system.kernel.cpu.cycles;
        exit(proc);
      };
      system.run({ maxCycles: 1_000_000_000 });
      const [g, b] = system.vms;
      // The broken VM: its VMM died of the UD2 its abort path executes; the VM stopped with it.
      expect(b!.stop?.kind).toBe("error");
      const diagnostic = (b!.stop as { diagnostic: string }).diagnostic;
      expect(diagnostic).toContain("VMM process vmm:bad");
      expect(diagnostic).toContain("was killed: #UD");
      expect(diagnostic).toContain("device model error: UART model bug");
      expect(b!.consoleText()).toBe("*".repeat(20));
      expect(b!.process.state).toBe("dead");
      expect(b!.vcpu!.kvm.destroyed).toBe(true);
      // The other VM ran on after the crash and gives exactly the bare machine's results.
      expect(crashedAt).toBeGreaterThan(0);
      expect(system.kernel.cpu.cycles).toBeGreaterThan(crashedAt);
      expect(
        guestVisible({
          stop: g!.stop,
          console: g!.consoleText(),
          regs: g!.finalRegs,
          instructions: g!.stats.guestInstructions,
        }),
      ).toEqual(bare(good));
      expect(g!.process.state).not.toBe("dead");
      // So did the host.
      expect(system.hostProgress()[0]!.progress).toBeGreaterThan(0);
    }, 120_000);
  }

  it("a VMM that cannot set its VM up (the image does not fit) fails alone", () => {
    const huge = new Uint8Array(3 * 1024 * 1024);
    const system = new HostedSystem([
      { name: "ok", memoryMiB: 4, image: assembleOrThrow("bits 32\norg 0x100000\nmov eax, 5\nout 0xf4, eax\n").bytes },
      { name: "too-big", memoryMiB: 2, image: huge },
    ]);
    system.run({ maxCycles: 50_000_000 });
    const bad = system.vms[1]!;
    expect(bad.stop?.kind).toBe("error");
    expect((bad.stop as { diagnostic: string }).diagnostic).toContain("exited with status 1");
    expect((bad.stop as { diagnostic: string }).diagnostic).toContain("does not fit in 2 MiB");
    expect(bad.process.state).toBe("dead");
    expect(system.vms[0]!.stop).toEqual({ kind: "debug-exit", value: 5 });
  });
});
