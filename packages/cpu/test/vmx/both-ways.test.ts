// The same guest, run once under an assembly hypervisor (harness.asm: VMXON ... VMLAUNCH on the
// CPU, exits continue at HOST_RIP) and once through the TypeScript API (machine.vmx.launch() and
// machine.run() returning { kind: "vmexit" }): the exit information and the guest registers at
// every exit must be identical, since both drive the one VM-entry / VM-exit implementation.
import { describe, expect, it } from "vitest";
import * as C from "../../src/vmx/controls.js";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import {
  type ExitRecord,
  expectOk,
  type Fields,
  L,
  loadGuest,
  newMachine,
  prepareMemory,
  runAsmHypervisor,
  runTsHypervisor,
  standardFields,
  sym,
  type VmcsOptions,
} from "./helpers.js";

interface Scenario {
  name: string;
  guest: string;
  options?: Partial<VmcsOptions>;
  /** Extra VMCS fields and memory set-up (bitmaps) applied in both runs. */
  extra?: Fields;
  setup?: (machine: ReturnType<typeof newMachine>) => void;
  check: (records: ExitRecord[], symbols: Map<string, number>) => void;
}

function bothWays(s: Scenario): { asm: ExitRecord[]; ts: ExitRecord[] } {
  // TypeScript API.
  const tsMachine = newMachine();
  prepareMemory(tsMachine);
  s.setup?.(tsMachine);
  const symbols = loadGuest(tsMachine, s.guest);
  const fields = [
    ...standardFields(tsMachine, {
      guestRip: sym(symbols, "start"),
      ...s.options,
      proc: C.CPU_BASED_HLT_EXITING | (s.options?.proc ?? 0),
    }),
    ...(s.extra ?? []),
  ];
  expectOk(tsMachine.vmx.vmxon(L.VMXON));
  expectOk(tsMachine.vmx.vmclear(L.VMCS));
  expectOk(tsMachine.vmx.vmptrld(L.VMCS));
  for (const [encoding, value] of fields) expectOk(tsMachine.vmx.vmwrite(encoding, value >>> 0));
  const ts = runTsHypervisor(tsMachine).records;
  // Assembly hypervisor: the same memory and field list (it adds HOST_RSP/HOST_RIP itself).
  const asmMachine = newMachine();
  prepareMemory(asmMachine);
  s.setup?.(asmMachine);
  loadGuest(asmMachine, s.guest);
  const asmRun = runAsmHypervisor(
    asmMachine,
    fields.filter(([e]) => e !== VMCS.HOST_RIP && e !== VMCS.HOST_RSP),
  );
  expect(asmRun.stop).toEqual({ kind: "debug-exit", value: 0 });
  s.check(ts, symbols);
  return { asm: asmRun.records, ts };
}

const reasons = (r: ExitRecord[]) => r.map((x) => x.fields.VM_EXIT_REASON);

const scenarios: Scenario[] = [
  {
    name: "CPUID",
    guest: `start:
      mov eax, 1
      mov ecx, 7
      mov ebx, 0x1234
      cpuid
      hlt`,
    check: (r, s) => {
      expect(reasons(r)).toEqual([EXIT_REASON.CPUID, EXIT_REASON.HLT]);
      expect(r[0]!.fields.GUEST_RIP).toBe(sym(s, "start") + 15);
      expect(r[0]!.fields.VM_EXIT_INSTRUCTION_LEN).toBe(2);
      expect(r[0]!.regs).toMatchObject({ eax: 1, ecx: 7, ebx: 0x1234 });
    },
  },
  {
    name: "OUT and IN with unconditional I/O exiting",
    options: { proc: C.CPU_BASED_UNCOND_IO_EXITING },
    guest: `start:
      mov al, 'x'
      out 0xe9, al
      mov edx, 0x80
      in eax, dx
      hlt`,
    check: (r) => {
      expect(reasons(r)).toEqual([EXIT_REASON.IO_INSTRUCTION, EXIT_REASON.IO_INSTRUCTION, EXIT_REASON.HLT]);
      expect(r[0]!.fields.EXIT_QUALIFICATION).toBe(0x00e90040);
      expect(r[1]!.fields.EXIT_QUALIFICATION).toBe(0x0080000b);
      expect(r[0]!.regs.eax & 0xff).toBe(0x78);
    },
  },
  {
    name: "HLT",
    guest: `start:
      mov eax, 0x11111111
      mov ecx, 0x22222222
      mov edx, 0x33333333
      mov ebx, 0x44444444
      mov ebp, 0x55555555
      mov esi, 0x66666666
      mov edi, 0x77777777
      push eax
      hlt`,
    check: (r, s) => {
      expect(reasons(r)).toEqual([EXIT_REASON.HLT]);
      expect(r[0]!.fields.GUEST_RSP).toBe(L.GUEST_STACK - 4);
      expect(r[0]!.fields.GUEST_RIP).toBe(sym(s, "start") + 36);
      expect(r[0]!.fields.VM_EXIT_INSTRUCTION_LEN).toBe(1);
      expect(r[0]!.regs).toEqual({
        eax: 0x11111111,
        ecx: 0x22222222,
        edx: 0x33333333,
        ebx: 0x44444444,
        ebp: 0x55555555,
        esi: 0x66666666,
        edi: 0x77777777,
      });
    },
  },
  {
    name: "MOV to CR3 with CR3-load exiting (skipped by the hypervisor), MOV from CR3 without store exiting",
    options: { proc: C.CPU_BASED_CR3_LOAD_EXITING },
    guest: `start:
      mov esi, 0x5000
      mov cr3, esi
      mov edi, cr3
      hlt`,
    check: (r) => {
      expect(reasons(r)).toEqual([EXIT_REASON.CR_ACCESS, EXIT_REASON.HLT]);
      expect(r[0]!.fields.EXIT_QUALIFICATION).toBe(0x603);
      expect(r[0]!.fields.VM_EXIT_INSTRUCTION_LEN).toBe(3);
      expect(r[1]!.regs.edi).toBe(0); // the load was skipped, not emulated
      expect(r[1]!.fields.GUEST_CR3).toBe(0);
    },
  },
  {
    name: "EPT violations: the hypervisor maps the page and the access is retried",
    guest: `start:
      mov dword [0x01200010], 0x1234
      mov eax, [0x01200010]
      mov ebx, [0x01400ffc]
      jmp 0x01600000`,
    setup: (m) => {
      m.memory.write8(0x01600000, 0xf4); // HLT, to be fetched from an unmapped page
    },
    check: (r, s) => {
      expect(reasons(r)).toEqual([
        EXIT_REASON.EPT_VIOLATION,
        EXIT_REASON.EPT_VIOLATION,
        EXIT_REASON.EPT_VIOLATION,
        EXIT_REASON.HLT,
      ]);
      const [write, read, fetch, hlt] = r;
      // Write access (bit 1), nothing permitted (bits 5:3 = 0), linear address valid (7) and translated (8).
      expect(write!.fields).toMatchObject({
        EXIT_QUALIFICATION: 0x182,
        GUEST_PHYSICAL_ADDRESS: 0x01200010,
        GUEST_LINEAR_ADDRESS: 0x01200010,
        GUEST_RIP: sym(s, "start"),
      });
      expect(read!.fields).toMatchObject({ EXIT_QUALIFICATION: 0x181, GUEST_PHYSICAL_ADDRESS: 0x01400ffc });
      expect(read!.regs.eax).toBe(0x1234);
      expect(fetch!.fields).toMatchObject({ EXIT_QUALIFICATION: 0x184, GUEST_RIP: 0x01600000 });
      expect(hlt!.fields.GUEST_RIP).toBe(0x01600000);
    },
  },
  {
    name: "RDMSR / WRMSR without MSR bitmaps",
    guest: `start:
      mov ecx, 0x174
      rdmsr
      mov eax, 0x42
      wrmsr
      hlt`,
    check: (r) => {
      expect(reasons(r)).toEqual([EXIT_REASON.MSR_READ, EXIT_REASON.MSR_WRITE, EXIT_REASON.HLT]);
      expect(r[1]!.regs).toMatchObject({ ecx: 0x174, eax: 0x42 });
    },
  },
  {
    name: "VMX instructions in the guest",
    guest: `start:
      mov ebx, 0x681e
      vmread eax, ebx
      vmwrite ebx, [esi + 0x10]
      vmptrst [esp + 8]
      invvpid ecx, [eax]
      hlt`,
    check: (r) => {
      expect(reasons(r)).toEqual([
        EXIT_REASON.VMREAD,
        EXIT_REASON.VMWRITE,
        EXIT_REASON.VMPTRST,
        EXIT_REASON.INVVPID,
        EXIT_REASON.HLT,
      ]);
      expect(r[1]!.fields.EXIT_QUALIFICATION).toBe(0x10);
      expect(r[2]!.fields.EXIT_QUALIFICATION).toBe(8);
    },
  },
  {
    name: "a guest page fault under guest paging reaches the exception bitmap",
    options: { exceptionBitmap: 1 << 14 },
    guest: `start:
      mov edi, 0x${L.GUEST_DATA.toString(16)}
      mov ecx, 1024
      xor eax, eax
      rep stosd
      mov dword [0x${L.GUEST_DATA.toString(16)}], 0x83    ; 4 MiB page 0-4 MiB only
      mov eax, 0x${L.GUEST_DATA.toString(16)}
      mov cr3, eax
      mov eax, cr4
      or eax, 0x10
      mov cr4, eax
      mov eax, cr0
      or eax, 0x80000000
      mov cr0, eax
      mov eax, [0x00800004]`,
    check: (r) => {
      // #PF (vector 14) is a fault with no instruction length: the harness loops on it.
      expect(r[0]!.fields.VM_EXIT_REASON).toBe(EXIT_REASON.EXCEPTION_NMI);
      expect(r[0]!.fields.VM_EXIT_INTR_INFO).toBe(0x80000b0e);
      expect(r[0]!.fields.VM_EXIT_INTR_ERROR_CODE).toBe(0);
      expect(r[0]!.fields.EXIT_QUALIFICATION).toBe(0x00800004);
      expect(r[0]!.fields.GUEST_CR0).toBe(0x80000031);
      expect(r.length).toBe(16);
    },
  },
];

describe("the same guest under an assembly hypervisor and through the TypeScript API", () => {
  for (const s of scenarios) {
    it(s.name, () => {
      const { asm, ts } = bothWays(s);
      expect(asm).toEqual(ts);
    });
  }
});

describe("an assembly hypervisor's VM entries inside a run of blocks", () => {
  it("the VMX-preemption timer its VMRESUME arms exits at the same guest instruction as in single steps", () => {
    // VMRESUME runs inside the CPU's block loop: the loop must stop at the deadline the entry armed, not
    // at the one it computed in root operation, where no timer runs.
    const guest = `start:
      mov ecx, 100
    top:
      inc eax
      jmp one
    one:
      add ebx, 3
      jmp two
    two:
      dec ecx
      jnz top
      hlt`;
    const runs = [false, true].map((stepwise) => {
      const machine = newMachine();
      prepareMemory(machine);
      const symbols = loadGuest(machine, guest);
      const fields: Fields = [
        ...standardFields(machine, {
          guestRip: sym(symbols, "start"),
          pin: C.PIN_BASED_VMX_PREEMPTION_TIMER,
          proc: C.CPU_BASED_HLT_EXITING,
        }),
        [VMCS.VMX_PREEMPTION_TIMER_VALUE, 5],
      ];
      if (stepwise) machine.cpu.hooks.instruction = () => undefined;
      const run = runAsmHypervisor(
        machine,
        fields.filter(([e]) => e !== VMCS.HOST_RIP && e !== VMCS.HOST_RSP),
      );
      expect(run.stop).toEqual({ kind: "debug-exit", value: 0 });
      return { records: run.records, cycles: machine.cpu.cycles };
    });
    const timer = runs[1]!.records.filter((x) => x.fields.VM_EXIT_REASON === EXIT_REASON.PREEMPTION_TIMER);
    expect(timer.length).toBeGreaterThan(2);
    expect(reasons(runs[1]!.records).at(-1)).toBe(EXIT_REASON.HLT);
    expect(runs[0]).toEqual(runs[1]);
  });
});
