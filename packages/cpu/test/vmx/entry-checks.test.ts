// VM-entry checks (Intel SDM Vol. 3C, chapter 27): control fields -> VMfailValid(7), host-state
// area -> VMfailValid(8), guest-state area -> a VM exit with reason 33 | bit 31 that loads the host
// state, VM-entry MSR loading -> reason 34 | bit 31 with the failing entry's index. Each case
// starts from the standard VMCS (which enters) and breaks one thing.
import { describe, expect, it } from "vitest";
import { ESP } from "../../src/cpu/registers.js";
import * as C from "../../src/vmx/controls.js";
import { EXIT_REASON } from "../../src/vmx/exit-reasons.js";
import { VMCS } from "../../src/vmx/vmcs-fields.js";
import {
  EPTP,
  expectOk,
  type Fields,
  HOST_CR0,
  HOST_CR4,
  initRegion,
  L,
  loadGuest,
  mustBeOne,
  newMachine,
  prepareMemory,
  runAsmHypervisor,
  standardFields,
  tsVm,
  type VmcsOptions,
} from "./helpers.js";

const HOST_RIP = 0x123450;
const FAILED = 0x80000000;
const INVALID_GUEST_STATE = (EXIT_REASON.INVALID_STATE | FAILED) >>> 0;
const MSR_LOAD_FAILURE = (EXIT_REASON.MSR_LOAD_FAIL | FAILED) >>> 0;

/** The standard VMCS (guest: HLT with HLT exiting) plus `extra` fields, then VMLAUNCH through the API. */
function launchWith(
  extra: Fields,
  options: Partial<VmcsOptions> = {},
  setup?: (m: ReturnType<typeof newMachine>) => void,
) {
  const { machine, symbols } = tsVm("start:\n  hlt", {
    proc: C.CPU_BASED_HLT_EXITING,
    hostRip: HOST_RIP,
    ...options,
    extra,
  });
  setup?.(machine);
  const result = machine.vmx.launch();
  return { machine, symbols, result };
}

function readMustBeOne(msr: number): number {
  return mustBeOne(newMachine(), msr);
}
const PIN0 = readMustBeOne(0x48d);
const PROC0 = readMustBeOne(0x48e);
const EXIT0 = readMustBeOne(0x48f);
const ENTRY0 = readMustBeOne(0x490);
const PROC_STD = (PROC0 | C.CPU_BASED_HLT_EXITING | C.CPU_BASED_ACTIVATE_SECONDARY_CONTROLS) >>> 0;
const EPT_UG = C.SECONDARY_EXEC_ENABLE_EPT | C.SECONDARY_EXEC_UNRESTRICTED_GUEST;

describe("the standard VMCS", () => {
  it("enters, and the guest's HLT exits", () => {
    const { machine, result } = launchWith([]);
    expect(result).toEqual({ ok: true });
    expect(machine.vmx.nonRoot).toBe(true);
    expect(machine.run()).toEqual({ kind: "vmexit", reason: EXIT_REASON.HLT, qualification: 0 });
  });
});

/** [name, extra fields] that must fail with VMfailValid(7). */
const CONTROL_FAILURES: [string, Fields][] = [
  [
    "pin-based: a bit not allowed to be 1 (virtual NMIs)",
    [[VMCS.PIN_BASED_VM_EXEC_CONTROL, PIN0 | C.PIN_BASED_VIRTUAL_NMIS]],
  ],
  ["pin-based: a bit not allowed to be 1 (bit 7, posted interrupts)", [[VMCS.PIN_BASED_VM_EXEC_CONTROL, PIN0 | 0x80]]],
  ["pin-based: a default1 bit cleared", [[VMCS.PIN_BASED_VM_EXEC_CONTROL, PIN0 & ~0x2]]],
  ["primary: MWAIT exiting is not supported", [[VMCS.CPU_BASED_VM_EXEC_CONTROL, PROC_STD | C.CPU_BASED_MWAIT_EXITING]]],
  ["primary: TPR shadow is not supported", [[VMCS.CPU_BASED_VM_EXEC_CONTROL, PROC_STD | C.CPU_BASED_TPR_SHADOW]]],
  [
    "primary: monitor trap flag is not supported",
    [[VMCS.CPU_BASED_VM_EXEC_CONTROL, PROC_STD | C.CPU_BASED_MONITOR_TRAP_FLAG]],
  ],
  ["primary: a default1 bit cleared", [[VMCS.CPU_BASED_VM_EXEC_CONTROL, PROC_STD & ~0x2]]],
  ["secondary: virtualize APIC accesses is not supported", [[VMCS.SECONDARY_VM_EXEC_CONTROL, EPT_UG | 1]]],
  [
    "secondary: WBINVD exiting is not supported",
    [[VMCS.SECONDARY_VM_EXEC_CONTROL, EPT_UG | C.SECONDARY_EXEC_WBINVD_EXITING]],
  ],
  ["VM-exit: host address-space size (64-bit host)", [[VMCS.VM_EXIT_CONTROLS, EXIT0 | C.VM_EXIT_HOST_ADDR_SPACE_SIZE]]],
  ["VM-exit: load IA32_EFER is not supported", [[VMCS.VM_EXIT_CONTROLS, EXIT0 | C.VM_EXIT_LOAD_IA32_EFER]]],
  ["VM-exit: a default1 bit cleared", [[VMCS.VM_EXIT_CONTROLS, EXIT0 & ~0x1]]],
  ["VM-entry: IA-32e mode guest", [[VMCS.VM_ENTRY_CONTROLS, ENTRY0 | C.VM_ENTRY_IA32E_MODE]]],
  ["VM-entry: entry to SMM", [[VMCS.VM_ENTRY_CONTROLS, ENTRY0 | C.VM_ENTRY_SMM]]],
  ["VM-entry: a default1 bit cleared", [[VMCS.VM_ENTRY_CONTROLS, ENTRY0 & ~0x1]]],
  ["CR3-target count 5 (the processor supports 4)", [[VMCS.CR3_TARGET_COUNT, 5]]],
  [
    "I/O bitmap A not 4 KiB aligned",
    [
      [VMCS.CPU_BASED_VM_EXEC_CONTROL, PROC_STD | C.CPU_BASED_USE_IO_BITMAPS],
      [VMCS.IO_BITMAP_A, L.IO_BITMAP_A + 8],
    ],
  ],
  [
    "I/O bitmap B above 4 GiB",
    [
      [VMCS.CPU_BASED_VM_EXEC_CONTROL, PROC_STD | C.CPU_BASED_USE_IO_BITMAPS],
      [VMCS.IO_BITMAP_B + 1, 1],
    ],
  ],
  [
    "MSR bitmap not 4 KiB aligned",
    [
      [VMCS.CPU_BASED_VM_EXEC_CONTROL, PROC_STD | C.CPU_BASED_USE_MSR_BITMAPS],
      [VMCS.MSR_BITMAP, L.MSR_BITMAP + 0x800],
    ],
  ],
  [
    "enable VPID with VPID 0",
    [
      [VMCS.SECONDARY_VM_EXEC_CONTROL, EPT_UG | C.SECONDARY_EXEC_ENABLE_VPID],
      [VMCS.VIRTUAL_PROCESSOR_ID, 0],
    ],
  ],
  ["EPTP memory type 1 (WC)", [[VMCS.EPT_POINTER, (EPTP & ~7) | 1]]],
  ["EPTP memory type 7", [[VMCS.EPT_POINTER, EPTP | 7]]],
  ["EPTP page-walk length 3", [[VMCS.EPT_POINTER, (EPTP & ~0x38) | (2 << 3)]]],
  ["EPTP page-walk length 5", [[VMCS.EPT_POINTER, (EPTP & ~0x38) | (4 << 3)]]],
  ["EPTP reserved bit 7", [[VMCS.EPT_POINTER, EPTP | 0x80]]],
  ["EPTP reserved bit 11", [[VMCS.EPT_POINTER, EPTP | 0x800]]],
  ["EPTP above the physical-address width", [[VMCS.EPT_POINTER + 1, 1]]],
  ["unrestricted guest without enable EPT", [[VMCS.SECONDARY_VM_EXEC_CONTROL, C.SECONDARY_EXEC_UNRESTRICTED_GUEST]]],
  [
    "save preemption timer without activating it",
    [[VMCS.VM_EXIT_CONTROLS, EXIT0 | C.VM_EXIT_SAVE_VMX_PREEMPTION_TIMER]],
  ],
  [
    "VM-entry MSR-load address not 16-byte aligned",
    [
      [VMCS.VM_ENTRY_MSR_LOAD_COUNT, 1],
      [VMCS.VM_ENTRY_MSR_LOAD_ADDR, L.MSR_AREA + 8],
    ],
  ],
  [
    "VM-exit MSR-store address not 16-byte aligned",
    [
      [VMCS.VM_EXIT_MSR_STORE_COUNT, 1],
      [VMCS.VM_EXIT_MSR_STORE_ADDR, L.MSR_AREA + 4],
    ],
  ],
  [
    "VM-exit MSR-load list of 513 entries (vmxlab: more than IA32_VMX_MISC recommends)",
    [
      [VMCS.VM_EXIT_MSR_LOAD_COUNT, 513],
      [VMCS.VM_EXIT_MSR_LOAD_ADDR, L.MSR_AREA],
    ],
  ],
  // Event injection (27.2.1.3).
  ["injection: interruption type 1 (reserved)", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000120]]],
  ["injection: type 7 'other event' (no monitor trap flag support)", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000700]]],
  ["injection: NMI with vector 3", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000203]]],
  ["injection: hardware exception with vector 32", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000320]]],
  ["injection: #GP without deliver-error-code", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x8000030d]]],
  ["injection: #UD with deliver-error-code", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000b06]]],
  ["injection: an external interrupt with deliver-error-code", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000820]]],
  ["injection: reserved bit 12", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80001020]]],
  ["injection: reserved bit 30", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0xc0000020]]],
  [
    "injection: error code with bit 16 set",
    [
      [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000b0d],
      [VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, 0x10000],
    ],
  ],
  [
    "injection: software interrupt with instruction length 0",
    [
      [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000480],
      [VMCS.VM_ENTRY_INSTRUCTION_LEN, 0],
    ],
  ],
  [
    "injection: software exception with instruction length 16",
    [
      [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000603],
      [VMCS.VM_ENTRY_INSTRUCTION_LEN, 16],
    ],
  ],
];

describe("checks on VM-execution, VM-exit and VM-entry control fields: VMfailValid(7)", () => {
  for (const [name, extra] of CONTROL_FAILURES) {
    it(name, () => {
      const { machine, result } = launchWith(extra);
      expect(result).toEqual({ ok: false, invalid: false, error: C.VMXERR.ENTRY_INVALID_CONTROL_FIELD });
      expect(machine.vmx.read(VMCS.VM_INSTRUCTION_ERROR)).toBe(7);
      expect(machine.vmx.nonRoot).toBe(false);
      expect(machine.vmx.vmcs.launched).toBe(false);
    });
  }
});

describe("valid settings next to the failing ones enter", () => {
  const cases: [string, Fields, Partial<VmcsOptions>?][] = [
    ["CR3-target count 4", [[VMCS.CR3_TARGET_COUNT, 4]]],
    ["EPTP with memory type UC", [[VMCS.EPT_POINTER, EPTP & ~7]]],
    ["EPTP with accessed/dirty flags enabled (bit 6)", [[VMCS.EPT_POINTER, EPTP | 0x40]]],
    ["a misaligned I/O bitmap address without 'use I/O bitmaps'", [[VMCS.IO_BITMAP_A, 0x123]]],
    ["VPID 0 without 'enable VPID'", [[VMCS.VIRTUAL_PROCESSOR_ID, 0]]],
    ["an MSR-load address that is not aligned with count 0", [[VMCS.VM_ENTRY_MSR_LOAD_ADDR, 0x7]]],
    [
      "injecting #GP with error code 0x8000 (bits 31:16 clear)",
      [
        [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000b0d],
        [VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, 0x8000],
      ],
    ],
    [
      "injecting INT 0x80 with instruction length 15",
      [
        [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000480],
        [VMCS.VM_ENTRY_INSTRUCTION_LEN, 15],
      ],
    ],
    ["an invalid injection field whose valid bit is 0", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x7ffff7ff]]],
    [
      "secondary controls with every bit set, ignored without 'activate secondary controls' (paged guest)",
      [
        [VMCS.CPU_BASED_VM_EXEC_CONTROL, PROC0 | C.CPU_BASED_HLT_EXITING],
        [VMCS.SECONDARY_VM_EXEC_CONTROL, 0xffffffff],
      ],
      { guestCr0: HOST_CR0, guestCr3: L.HOST_PD, guestCr4: HOST_CR4 },
    ],
  ];
  for (const [name, extra, options] of cases) {
    it(name, () => {
      expect(launchWith(extra, options ?? {}).result).toEqual({ ok: true });
    });
  }
});

/** [name, extra fields] that must fail with VMfailValid(8). */
const HOST_FAILURES: [string, Fields][] = [
  ["HOST_CR0 without PG", [[VMCS.HOST_CR0, HOST_CR0 & 0x7fffffff]]],
  ["HOST_CR0 without NE", [[VMCS.HOST_CR0, HOST_CR0 & ~0x20]]],
  ["HOST_CR0 without PE", [[VMCS.HOST_CR0, HOST_CR0 & ~1]]],
  ["HOST_CR4 without VMXE", [[VMCS.HOST_CR4, HOST_CR4 & ~0x2000]]],
  ["HOST_CR4 with PAE (fixed to 0)", [[VMCS.HOST_CR4, HOST_CR4 | 0x20]]],
  ["HOST_CS_SELECTOR with RPL 1", [[VMCS.HOST_CS_SELECTOR, 0x09]]],
  ["HOST_SS_SELECTOR with TI = 1", [[VMCS.HOST_SS_SELECTOR, 0x14]]],
  ["HOST_DS_SELECTOR with RPL 3", [[VMCS.HOST_DS_SELECTOR, 0x13]]],
  ["HOST_ES_SELECTOR with RPL 2", [[VMCS.HOST_ES_SELECTOR, 0x12]]],
  ["HOST_FS_SELECTOR with TI = 1", [[VMCS.HOST_FS_SELECTOR, 0x04]]],
  ["HOST_GS_SELECTOR with RPL 1", [[VMCS.HOST_GS_SELECTOR, 0x01]]],
  ["HOST_TR_SELECTOR with RPL 3", [[VMCS.HOST_TR_SELECTOR, 0x1b]]],
  ["HOST_CS_SELECTOR null", [[VMCS.HOST_CS_SELECTOR, 0]]],
  ["HOST_TR_SELECTOR null", [[VMCS.HOST_TR_SELECTOR, 0]]],
  ["HOST_SS_SELECTOR null (32-bit host)", [[VMCS.HOST_SS_SELECTOR, 0]]],
];

describe("checks on the host-state area: VMfailValid(8)", () => {
  for (const [name, extra] of HOST_FAILURES) {
    it(name, () => {
      const { machine, result } = launchWith(extra);
      expect(result).toEqual({ ok: false, invalid: false, error: C.VMXERR.ENTRY_INVALID_HOST_STATE_FIELD });
      expect(machine.vmx.read(VMCS.VM_INSTRUCTION_ERROR)).toBe(8);
      expect(machine.vmx.nonRoot).toBe(false);
    });
  }

  it("null DS, ES, FS and GS selectors are allowed", () => {
    const extra: Fields = [
      VMCS.HOST_DS_SELECTOR,
      VMCS.HOST_ES_SELECTOR,
      VMCS.HOST_FS_SELECTOR,
      VMCS.HOST_GS_SELECTOR,
    ].map((f) => [f, 0]);
    expect(launchWith(extra).result).toEqual({ ok: true });
  });

  it("control checks come first: bad controls and bad host state -> 7", () => {
    const { result } = launchWith([
      [VMCS.CR3_TARGET_COUNT, 9],
      [VMCS.HOST_CR0, 0],
    ]);
    expect(result).toEqual({ ok: false, invalid: false, error: 7 });
  });

  it("host-state checks come before guest-state checks: bad host and bad guest state -> 8", () => {
    const { result } = launchWith([
      [VMCS.HOST_TR_SELECTOR, 0],
      [VMCS.GUEST_RFLAGS, 0],
    ]);
    expect(result).toEqual({ ok: false, invalid: false, error: 8 });
  });
});

const GUEST_FAILURES: [string, Fields, Partial<VmcsOptions>?][] = [
  // 27.3.1.1 control registers
  ["GUEST_CR0 without NE", [[VMCS.GUEST_CR0, 0x11]]],
  ["GUEST_CR0 with PG but not PE", [[VMCS.GUEST_CR0, 0x80000030]]],
  ["GUEST_CR0 with PE = 0 (vmxlab has no real mode)", [[VMCS.GUEST_CR0, 0x30]]],
  [
    "GUEST_CR0 without PG when 'unrestricted guest' is 0",
    [[VMCS.SECONDARY_VM_EXEC_CONTROL, C.SECONDARY_EXEC_ENABLE_EPT]],
  ],
  ["GUEST_CR4 without VMXE", [[VMCS.GUEST_CR4, 0]]],
  ["GUEST_CR4 with PAE (fixed to 0 in VMX operation)", [[VMCS.GUEST_CR4, 0x2020]]],
  // 27.3.1.2 segment registers
  ["TR selector with TI = 1", [[VMCS.GUEST_TR_SELECTOR, 0x1c]]],
  [
    "usable LDTR selector with TI = 1",
    [
      [VMCS.GUEST_LDTR_SELECTOR, 0x24],
      [VMCS.GUEST_LDTR_AR_BYTES, 0x82],
      [VMCS.GUEST_LDTR_LIMIT, 0xff],
    ],
  ],
  [
    "SS.RPL different from CS.RPL (unrestricted guest 0)",
    [
      [VMCS.GUEST_SS_SELECTOR, 0x13],
      [VMCS.GUEST_SS_AR_BYTES, 0xc0f3],
      [VMCS.SECONDARY_VM_EXEC_CONTROL, C.SECONDARY_EXEC_ENABLE_EPT],
    ],
    { guestCr0: HOST_CR0, guestCr3: L.HOST_PD, guestCr4: HOST_CR4 },
  ],
  ["CS unusable", [[VMCS.GUEST_CS_AR_BYTES, 0x1c09b]]],
  ["CS type 8 (code, not accessed)", [[VMCS.GUEST_CS_AR_BYTES, 0xc098]]],
  [
    "CS type 3 (data) without unrestricted guest",
    [
      [VMCS.SECONDARY_VM_EXEC_CONTROL, C.SECONDARY_EXEC_ENABLE_EPT],
      [VMCS.GUEST_CS_AR_BYTES, 0xc093],
    ],
    { guestCr0: HOST_CR0, guestCr3: L.HOST_PD, guestCr4: HOST_CR4 },
  ],
  ["CS type 3 with DPL 3 under unrestricted guest", [[VMCS.GUEST_CS_AR_BYTES, 0xc0f3]]],
  ["CS.S = 0", [[VMCS.GUEST_CS_AR_BYTES, 0xc08b]]],
  ["CS not present", [[VMCS.GUEST_CS_AR_BYTES, 0xc01b]]],
  ["CS non-conforming with DPL 3 and SS.DPL 0", [[VMCS.GUEST_CS_AR_BYTES, 0xc0fb]]],
  ["CS conforming with DPL 3 greater than SS.DPL 0", [[VMCS.GUEST_CS_AR_BYTES, 0xc0ff]]],
  ["CS access-rights reserved bit 8", [[VMCS.GUEST_CS_AR_BYTES, 0xc19b]]],
  ["CS access-rights reserved bit 17", [[VMCS.GUEST_CS_AR_BYTES, 0x2c09b]]],
  ["CS.G = 1 with limit bits 11:0 not all 1", [[VMCS.GUEST_CS_LIMIT, 0xfffff000]]],
  ["CS.G = 0 with limit bits 31:20 set", [[VMCS.GUEST_CS_AR_BYTES, 0x409b]]],
  ["SS type 11 (code)", [[VMCS.GUEST_SS_AR_BYTES, 0xc09b]]],
  ["SS type 1 (read-only data)", [[VMCS.GUEST_SS_AR_BYTES, 0xc091]]],
  [
    "SS.DPL different from SS.RPL (unrestricted guest 0)",
    [
      [VMCS.SECONDARY_VM_EXEC_CONTROL, C.SECONDARY_EXEC_ENABLE_EPT],
      [VMCS.GUEST_SS_AR_BYTES, 0xc0b3],
    ],
    { guestCr0: HOST_CR0, guestCr3: L.HOST_PD, guestCr4: HOST_CR4 },
  ],
  ["SS not present", [[VMCS.GUEST_SS_AR_BYTES, 0xc013]]],
  ["DS not accessed (type 2)", [[VMCS.GUEST_DS_AR_BYTES, 0xc092]]],
  ["ES execute-only code (not readable)", [[VMCS.GUEST_ES_AR_BYTES, 0xc099]]],
  ["FS.S = 0", [[VMCS.GUEST_FS_AR_BYTES, 0xc083]]],
  ["GS not present", [[VMCS.GUEST_GS_AR_BYTES, 0xc013]]],
  [
    "DS.DPL 0 less than its RPL 3 (unrestricted guest 0)",
    [
      [VMCS.SECONDARY_VM_EXEC_CONTROL, C.SECONDARY_EXEC_ENABLE_EPT],
      [VMCS.GUEST_DS_SELECTOR, 0x13],
    ],
    { guestCr0: HOST_CR0, guestCr3: L.HOST_PD, guestCr4: HOST_CR4 },
  ],
  ["DS access-rights reserved bit 9", [[VMCS.GUEST_DS_AR_BYTES, 0xc293]]],
  ["ES.G = 1 with limit 0xffffe (bit 0 clear)", [[VMCS.GUEST_ES_LIMIT, 0xffffe]]],
  ["TR type 9 (available TSS)", [[VMCS.GUEST_TR_AR_BYTES, 0x89]]],
  ["TR type 3 (16-bit busy TSS: vmxlab has only 32-bit TSSs)", [[VMCS.GUEST_TR_AR_BYTES, 0x83]]],
  ["TR unusable", [[VMCS.GUEST_TR_AR_BYTES, 0x1008b]]],
  ["TR.S = 1", [[VMCS.GUEST_TR_AR_BYTES, 0x9b]]],
  ["TR not present", [[VMCS.GUEST_TR_AR_BYTES, 0x0b]]],
  ["TR.G = 1 with limit 0x67", [[VMCS.GUEST_TR_AR_BYTES, 0x808b]]],
  ["usable LDTR of type 3", [[VMCS.GUEST_LDTR_AR_BYTES, 0x83]]],
  ["usable LDTR not present", [[VMCS.GUEST_LDTR_AR_BYTES, 0x02]]],
  // 27.3.1.3 descriptor-table registers
  ["GDTR limit above 0xFFFF", [[VMCS.GUEST_GDTR_LIMIT, 0x10000]]],
  ["IDTR limit above 0xFFFF", [[VMCS.GUEST_IDTR_LIMIT, 0x10000]]],
  // 27.3.1.4 RFLAGS
  ["RFLAGS bit 1 clear", [[VMCS.GUEST_RFLAGS, 0]]],
  ["RFLAGS bit 3 set", [[VMCS.GUEST_RFLAGS, 0xa]]],
  ["RFLAGS bit 5 set", [[VMCS.GUEST_RFLAGS, 0x22]]],
  ["RFLAGS bit 15 set", [[VMCS.GUEST_RFLAGS, 0x8002]]],
  ["RFLAGS bit 22 set", [[VMCS.GUEST_RFLAGS, 0x400002]]],
  ["RFLAGS.VM set (vmxlab has no virtual-8086 mode)", [[VMCS.GUEST_RFLAGS, 0x20002]]],
  ["injecting an external interrupt with RFLAGS.IF = 0", [[VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000020]]],
  // 27.3.1.5 non-register state
  ["activity state 2 (shutdown: not supported)", [[VMCS.GUEST_ACTIVITY_STATE, 2]]],
  ["activity state 3 (wait-for-SIPI: not supported)", [[VMCS.GUEST_ACTIVITY_STATE, 3]]],
  [
    "activity state HLT with SS.DPL 3",
    [
      [VMCS.GUEST_ACTIVITY_STATE, 1],
      [VMCS.GUEST_SS_AR_BYTES, 0xc0f3],
      [VMCS.GUEST_CS_AR_BYTES, 0xc09f],
    ],
  ],
  [
    "activity state HLT with blocking by STI",
    [
      [VMCS.GUEST_ACTIVITY_STATE, 1],
      [VMCS.GUEST_INTERRUPTIBILITY_INFO, 1],
    ],
    { guestRflags: 0x202 },
  ],
  [
    "activity state HLT with an injected #GP",
    [
      [VMCS.GUEST_ACTIVITY_STATE, 1],
      [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000b0d],
    ],
  ],
  [
    "activity state HLT with an injected software interrupt",
    [
      [VMCS.GUEST_ACTIVITY_STATE, 1],
      [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000480],
      [VMCS.VM_ENTRY_INSTRUCTION_LEN, 2],
    ],
  ],
  ["interruptibility reserved bit 5", [[VMCS.GUEST_INTERRUPTIBILITY_INFO, 0x20]]],
  ["interruptibility bit 4 (enclave interruption, no SGX)", [[VMCS.GUEST_INTERRUPTIBILITY_INFO, 0x10]]],
  ["interruptibility bit 2 (blocking by SMI outside SMM)", [[VMCS.GUEST_INTERRUPTIBILITY_INFO, 0x4]]],
  ["blocking by STI and by MOV SS together", [[VMCS.GUEST_INTERRUPTIBILITY_INFO, 3]], { guestRflags: 0x202 }],
  ["blocking by STI with RFLAGS.IF = 0", [[VMCS.GUEST_INTERRUPTIBILITY_INFO, 1]]],
  [
    "injecting an external interrupt with blocking by MOV SS",
    [
      [VMCS.GUEST_INTERRUPTIBILITY_INFO, 2],
      [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000020],
    ],
    { guestRflags: 0x202 },
  ],
  [
    "injecting an external interrupt with blocking by STI",
    [
      [VMCS.GUEST_INTERRUPTIBILITY_INFO, 1],
      [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000020],
    ],
    { guestRflags: 0x202 },
  ],
  [
    "injecting an NMI with blocking by MOV SS",
    [
      [VMCS.GUEST_INTERRUPTIBILITY_INFO, 2],
      [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000202],
    ],
  ],
  ["pending debug exceptions reserved bit 4", [[VMCS.GUEST_PENDING_DBG_EXCEPTIONS, 0x10]]],
  ["pending debug exceptions reserved bit 13", [[VMCS.GUEST_PENDING_DBG_EXCEPTIONS, 0x2000]]],
  [
    "pending BS = 1 with RFLAGS.TF = 0 and blocking by STI",
    [
      [VMCS.GUEST_INTERRUPTIBILITY_INFO, 1],
      [VMCS.GUEST_PENDING_DBG_EXCEPTIONS, 0x4000],
    ],
    { guestRflags: 0x202 },
  ],
  [
    "pending BS = 0 with RFLAGS.TF = 1 and blocking by MOV SS",
    [[VMCS.GUEST_INTERRUPTIBILITY_INFO, 2]],
    { guestRflags: 0x102 },
  ],
  [
    "VMCS link pointer 0 (no revision identifier there)",
    [
      [VMCS.VMCS_LINK_POINTER, 0],
      [VMCS.VMCS_LINK_POINTER + 1, 0],
    ],
  ],
  [
    "VMCS link pointer not 4 KiB aligned",
    [
      [VMCS.VMCS_LINK_POINTER, L.VMCS2 + 0x10],
      [VMCS.VMCS_LINK_POINTER + 1, 0],
    ],
  ],
  [
    "VMCS link pointer = the current VMCS",
    [
      [VMCS.VMCS_LINK_POINTER, L.VMCS],
      [VMCS.VMCS_LINK_POINTER + 1, 0],
    ],
  ],
  ["VMCS link pointer FFFFFFFF_00000000", [[VMCS.VMCS_LINK_POINTER, 0]]],
];

describe("checks on the guest-state area: VM exit 33 | bit 31 with host state loaded", () => {
  for (const [name, extra, options] of GUEST_FAILURES) {
    it(name, () => {
      const { machine, result } = launchWith(extra, options ?? {}, (m) => initRegion(m, L.VMCS2));
      const vmx = machine.vmx;
      const guestRip = vmx.read(VMCS.GUEST_RIP);
      // VMLAUNCH itself "succeeds": control goes to HOST_RIP as after a VM exit.
      expect(result).toEqual({ ok: true });
      expect(vmx.nonRoot).toBe(false);
      const info = vmx.exitInfo();
      expect(info.reason >>> 0).toBe(INVALID_GUEST_STATE);
      expect(info.name).toBe("INVALID_STATE");
      expect(info.qualification).toBe(0);
      // Host state: RIP, RSP, CR0/3/4, CPL 0, RFLAGS = 2.
      const cpu = machine.cpu;
      expect(cpu.eip >>> 0).toBe(HOST_RIP);
      expect(cpu.regs[ESP]! >>> 0).toBe(L.HOST_STACK);
      expect([cpu.cr0 >>> 0, cpu.cr3, cpu.cr4]).toEqual([HOST_CR0, L.HOST_PD, HOST_CR4]);
      expect(cpu.getEflags()).toBe(2);
      expect(cpu.cpl).toBe(0);
      // No guest state was saved; the VMCS stays clear.
      expect(vmx.read(VMCS.GUEST_RIP)).toBe(guestRip);
      expect(vmx.vmcs.launched).toBe(false);
      // The next Cpu.run() reports the failed entry (a TypeScript hypervisor sees it as an exit).
      expect(machine.run()).toEqual({ kind: "vmexit", reason: INVALID_GUEST_STATE, qualification: 0 });
    });
  }
});

describe("guest states that pass next to the failing ones", () => {
  const cases: [string, Fields, Partial<VmcsOptions>?][] = [
    [
      "a VMCS link pointer to a VMCS region with the right revision",
      [
        [VMCS.VMCS_LINK_POINTER, L.VMCS2],
        [VMCS.VMCS_LINK_POINTER + 1, 0],
      ],
    ],
    ["CS type 3 with DPL 0 under unrestricted guest", [[VMCS.GUEST_CS_AR_BYTES, 0xc093]]],
    [
      "conforming CS with DPL 0 below SS.DPL 3 under unrestricted guest",
      [
        [VMCS.GUEST_CS_AR_BYTES, 0xc09f],
        [VMCS.GUEST_SS_AR_BYTES, 0xc0f3],
      ],
    ],
    [
      "unusable DS, ES, FS and GS with junk in their other bits",
      [
        [VMCS.GUEST_DS_AR_BYTES, 0x1ffff],
        [VMCS.GUEST_ES_AR_BYTES, 0x10000],
        [VMCS.GUEST_FS_AR_BYTES, 0x10000],
        [VMCS.GUEST_GS_AR_BYTES, 0x10000],
      ],
    ],
    [
      "a usable LDTR (type 2, present)",
      [
        [VMCS.GUEST_LDTR_SELECTOR, 0x20],
        [VMCS.GUEST_LDTR_AR_BYTES, 0x82],
        [VMCS.GUEST_LDTR_LIMIT, 0xff],
      ],
    ],
    [
      "activity state HLT with an injected external interrupt",
      [
        [VMCS.GUEST_ACTIVITY_STATE, 1],
        [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000020],
      ],
      { guestRflags: 0x202 },
    ],
    [
      "blocking by STI with RFLAGS.TF = 1 and pending BS",
      [
        [VMCS.GUEST_INTERRUPTIBILITY_INFO, 1],
        [VMCS.GUEST_PENDING_DBG_EXCEPTIONS, 0x4000],
      ],
      { guestRflags: 0x302 },
    ],
    [
      "an injected error code with bit 15 set",
      [
        [VMCS.VM_ENTRY_INTR_INFO_FIELD, 0x80000b0e],
        [VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, 0xffff],
      ],
    ],
  ];
  for (const [name, extra, options] of cases) {
    it(name, () => {
      const { machine, result } = launchWith(extra, options ?? {}, (m) => initRegion(m, L.VMCS2));
      expect(result).toEqual({ ok: true });
      expect(machine.vmx.nonRoot || machine.vmx.read(VMCS.VM_EXIT_REASON) < FAILED).toBe(true);
      expect(machine.vmx.read(VMCS.VM_EXIT_REASON) & FAILED).toBe(0);
    });
  }
});

describe("VM-entry MSR loading", () => {
  const SYSENTER_CS = 0x174;
  const msrEntry = (m: ReturnType<typeof newMachine>, at: number, index: number, low: number, reserved = 0) => {
    m.memory.write32(at, index);
    m.memory.write32(at + 4, reserved);
    m.memory.write32(at + 8, low);
    m.memory.write32(at + 12, 0);
  };

  it("a refused MSR write fails the entry: exit 34 | bit 31, qualification = the entry's 1-based index", () => {
    const STORE = L.MSR_AREA + 0x800;
    const { machine, result } = launchWith(
      [
        [VMCS.VM_ENTRY_MSR_LOAD_COUNT, 3],
        [VMCS.VM_ENTRY_MSR_LOAD_ADDR, L.MSR_AREA],
        [VMCS.VM_EXIT_MSR_STORE_COUNT, 1],
        [VMCS.VM_EXIT_MSR_STORE_ADDR, STORE],
        [VMCS.GUEST_SYSENTER_CS, 0x55],
        [VMCS.HOST_IA32_SYSENTER_CS, 0x66],
      ],
      {},
      (m) => {
        msrEntry(m, L.MSR_AREA, SYSENTER_CS, 0x77);
        msrEntry(m, L.MSR_AREA + 16, 0xdead0001, 1); // no such MSR
        msrEntry(m, L.MSR_AREA + 32, SYSENTER_CS, 0x88);
        msrEntry(m, STORE, SYSENTER_CS, 0xfeed);
      },
    );
    expect(result).toEqual({ ok: true });
    expect(machine.vmx.exitInfo()).toMatchObject({ reason: MSR_LOAD_FAILURE, qualification: 2 });
    expect(machine.vmx.nonRoot).toBe(false);
    expect(machine.cpu.eip >>> 0).toBe(HOST_RIP);
    // Host state is loaded (IA32_SYSENTER_CS from the host field), the store list is not used.
    expect(machine.cpu.sysenterCs).toBe(0x66);
    expect(machine.memory.read32(STORE + 8)).toBe(0xfeed);
    expect(machine.vmx.vmcs.launched).toBe(false);
    expect(machine.run()).toEqual({ kind: "vmexit", reason: MSR_LOAD_FAILURE, qualification: 2 });
  });

  it("failing entries: a read-only capability MSR, reserved bits 63:32 of the entry, a locked IA32_FEATURE_CONTROL", () => {
    for (const [index, value, reserved, name] of [
      [0x480, 0, 0, "IA32_VMX_BASIC"],
      [SYSENTER_CS, 0x10, 1, "reserved bits"],
      [0x3a, 5, 0, "IA32_FEATURE_CONTROL"],
    ] as const) {
      const { machine } = launchWith(
        [
          [VMCS.VM_ENTRY_MSR_LOAD_COUNT, 1],
          [VMCS.VM_ENTRY_MSR_LOAD_ADDR, L.MSR_AREA],
        ],
        {},
        (m) => {
          m.cpu.featureControl = 5;
          msrEntry(m, L.MSR_AREA, index, value, reserved);
        },
      );
      expect(machine.vmx.exitInfo().reason >>> 0, name).toBe(MSR_LOAD_FAILURE);
      expect(machine.vmx.exitInfo().qualification, name).toBe(1);
    }
  });

  it("the MSR-load list is applied after the guest-state fields (it overrides GUEST_SYSENTER_CS); exit MSR store and load", () => {
    const STORE = L.MSR_AREA + 0x800;
    const EXIT_LOAD = L.MSR_AREA + 0xc00;
    const { machine } = launchWith(
      [
        [VMCS.CPU_BASED_VM_EXEC_CONTROL, PROC_STD | C.CPU_BASED_USE_MSR_BITMAPS],
        [VMCS.VM_ENTRY_MSR_LOAD_COUNT, 1],
        [VMCS.VM_ENTRY_MSR_LOAD_ADDR, L.MSR_AREA],
        [VMCS.VM_EXIT_MSR_STORE_COUNT, 1],
        [VMCS.VM_EXIT_MSR_STORE_ADDR, STORE],
        [VMCS.VM_EXIT_MSR_LOAD_COUNT, 1],
        [VMCS.VM_EXIT_MSR_LOAD_ADDR, EXIT_LOAD],
        [VMCS.GUEST_SYSENTER_CS, 0x55],
        [VMCS.HOST_IA32_SYSENTER_CS, 0x66],
      ],
      {},
      (m) => {
        loadGuest(m, "start:\n  mov ecx, 0x174\n  rdmsr\n  mov ebx, eax\n  mov eax, 0x99\n  wrmsr\n  vmcall");
        msrEntry(m, L.MSR_AREA, SYSENTER_CS, 0x77);
        msrEntry(m, STORE, SYSENTER_CS, 0);
        msrEntry(m, EXIT_LOAD, SYSENTER_CS, 0x44);
      },
    );
    expect(machine.run()).toEqual({ kind: "vmexit", reason: EXIT_REASON.VMCALL, qualification: 0 });
    expect(machine.cpu.regs[3]).toBe(0x77); // the guest read the list's value
    expect(machine.vmx.read(VMCS.GUEST_SYSENTER_CS)).toBe(0x99); // saved on exit
    expect(machine.memory.read32(STORE + 8)).toBe(0x99); // exit MSR-store area
    expect(machine.cpu.sysenterCs).toBe(0x44); // host field, then the exit MSR-load list
  });
});

describe("entry failures seen by an assembly hypervisor", () => {
  it("an invalid guest state continues at HOST_RIP with exit reason 33 | bit 31", () => {
    const machine = newMachine();
    prepareMemory(machine);
    const symbols = loadGuest(machine, "start:\n  hlt");
    const fields = standardFields(machine, { guestRip: symbols.get("start")!, proc: C.CPU_BASED_HLT_EXITING })
      .filter(([e]) => e !== VMCS.HOST_RIP && e !== VMCS.HOST_RSP)
      .concat([[VMCS.GUEST_RFLAGS, 0x8002]]);
    const run = runAsmHypervisor(machine, fields);
    expect(run.stop).toEqual({ kind: "debug-exit", value: 0 });
    expect(run.records.length).toBe(1);
    expect(run.records[0]!.fields.VM_EXIT_REASON).toBe(INVALID_GUEST_STATE);
    expect(run.records[0]!.fields.EXIT_QUALIFICATION).toBe(0);
    // Guest state was neither loaded nor saved: GUEST_RIP is what the hypervisor wrote.
    expect(run.records[0]!.fields.GUEST_RIP).toBe(symbols.get("start"));
  });

  it("an invalid control makes VMLAUNCH fall through with ZF = 1 and error 7 (harness: debug exit 0x107)", () => {
    const machine = newMachine();
    prepareMemory(machine);
    const symbols = loadGuest(machine, "start:\n  hlt");
    const fields = standardFields(machine, { guestRip: symbols.get("start")! })
      .filter(([e]) => e !== VMCS.HOST_RIP && e !== VMCS.HOST_RSP)
      .concat([[VMCS.CR3_TARGET_COUNT, 5]]);
    const run = runAsmHypervisor(machine, fields);
    expect(run.stop).toEqual({ kind: "debug-exit", value: 0x107 });
    expect(run.records).toEqual([]);
  });

  it("an invalid host state: error 8 (debug exit 0x108)", () => {
    const machine = newMachine();
    prepareMemory(machine);
    const symbols = loadGuest(machine, "start:\n  hlt");
    const fields = standardFields(machine, { guestRip: symbols.get("start")! })
      .filter(([e]) => e !== VMCS.HOST_RIP && e !== VMCS.HOST_RSP)
      .concat([[VMCS.HOST_CR4, 0x10]]);
    expect(runAsmHypervisor(machine, fields).stop).toEqual({ kind: "debug-exit", value: 0x108 });
  });
});

void expectOk;
