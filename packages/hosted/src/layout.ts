// The host OS's fixed layout and ABI: physical memory map, selectors, virtual address layout of every
// process, I/O ports of the kernel boundary, system-call numbers and the kvm_run structure. Plain
// constants shared by the kernel, the KVM module, the user-space VMM library and the tests.

// ---- physical memory (identity-mapped in the kernel half of every address space) ----

/** Descriptor tables the kernel builds at boot. */
export const GDT_BASE = 0x8000;
export const IDT_BASE = 0x9000;
export const TSS_BASE = 0xa000;
/** The kernel's ring-0 code (entry stubs, return path, idle loop), assembled at boot. */
export const KERNEL_CODE = 0x10000;
/** Everything from here up is handed out by the kernel's page allocator. */
export const FIRST_FREE_PAGE = 0x100000;

// ---- segment selectors (GDT entries 1-5) ----
// In the order SYSENTER and SYSEXIT need (Linux's __KERNEL_CS, __KERNEL_DS, __USER_CS, __USER_DS):
// SYSENTER loads CS = IA32_SYSENTER_CS and SS = +8; SYSEXIT loads CS = +16 and SS = +24, with RPL 3.
export const KCODE = 0x08;
export const KDATA = 0x10;
export const UCODE = 0x1b;
export const UDATA = 0x23;
export const TSS_SEL = 0x28;

/** TSS.ESP0, the kernel stack of the process on the CPU: IA32_SYSENTER_ESP points here (see sysenter_entry). */
export const TSS_ESP0 = TSS_BASE + 4;
/** 104-byte TSS + a 32-byte I/O permission bitmap for ports 0-0xFF + the 0xFF terminator byte. */
export const TSS_IOMAP_OFFSET = 0x68;
export const TSS_LIMIT = TSS_IOMAP_OFFSET + 32;

// ---- virtual address layout of a process (below 1 GiB: the kernel's direct map of RAM) ----

/** Program text and data of every user process (its `org`). */
export const USER_BASE = 0x40000000;
/** Top of the user stack (16 KiB below it). */
export const USER_STACK_TOP = 0x40400000;
export const USER_STACK_PAGES = 4;
/** Where KVM_CREATE_VCPU maps the vCPU's kvm_run page in the VMM process (its mmap of the vCPU fd). */
export const KVM_RUN_ADDR = 0x40800000;
/** Where the VMM process maps its guest's RAM (an anonymous mmap, registered with the KVM module). */
export const GUEST_RAM_ADDR = 0x80000000;
/** The direct map covers physical RAM from linear 0 up to here. */
export const DIRECT_MAP_LIMIT = USER_BASE;

// ---- the kernel boundary ----

/**
 * Every ring-0 entry stub ends with an OUT to this port: the host kernel's logic (TypeScript) takes
 * over with the trap frame at ESP. The TSS I/O bitmap denies it to every user process.
 */
export const KERNEL_UPCALL_PORT = 0xe0;
/**
 * The user-space VMM library's entry: an OUT to this port from a VMM process runs its device models
 * and loader (TypeScript) as that process's ring-3 code. The kernel grants the port through the TSS
 * I/O bitmap to VMM processes only (ioperm), switching the bitmap on every context switch.
 */
export const VMM_LIB_PORT = 0xe4;

/** Interrupt vectors: the PIC pair is remapped to 0x20-0x2F; INT 0x80 is the system call. */
export const IRQ_BASE = 0x20;
export const TIMER_VECTOR = IRQ_BASE;
export const SYSCALL_VECTOR = 0x80;
/**
 * The vector slot of a trap frame that sysenter_entry built (a system call by SYSENTER): no IDT
 * vector (those are 0-0xFF), so the kernel and ret_to_user tell the two entries apart. Such a frame
 * returns by SYSEXIT, any other by IRETD.
 */
export const FAST_SYSCALL_VECTOR = 0x100;
/** Exceptions that push an error code. */
export const ERROR_CODE_VECTORS: ReadonlySet<number> = new Set([8, 10, 11, 12, 13, 14, 17]);

/** Trap-frame layout at the kernel ESP after the common entry stub (PUSHAD order, then ES, DS, vector, error). */
export const FRAME = {
  EDI: 0,
  ESI: 4,
  EBP: 8,
  ESP_DUMMY: 12,
  EBX: 16,
  EDX: 20,
  ECX: 24,
  EAX: 28,
  ES: 32,
  DS: 36,
  VECTOR: 40,
  ERROR: 44,
  EIP: 48,
  CS: 52,
  EFLAGS: 56,
  /** Only for entries from ring 3. */
  USER_ESP: 60,
  USER_SS: 64,
} as const;
/** Size of the frame of an entry from ring 3 (and from ring 0, without SS:ESP). */
export const USER_FRAME_SIZE = 68;
export const KERNEL_FRAME_SIZE = 60;

// ---- system calls, result in EAX ----
// INT 0x80: EAX = number, EBX, ECX, EDX = arguments; every other register is preserved.
// SYSENTER (the fast path, as through Linux's vDSO): EAX = number, ECX = the user ESP and EDX = the
// EIP to return to, so the second and third arguments move to ESI and EDI (EBX stays the first).
// The return is by SYSEXIT, which takes ESP and EIP from ECX and EDX: both come back clobbered
// (Linux's vDSO saves them on the user stack; the VMM keeps no value in them across a call).

export const SYS = {
  EXIT: 1,
  YIELD: 2,
  GETPID: 3,
  /** Submit a request to the (modeled) disk and block until it completes. */
  IO_WAIT: 4,
  /** Sleep for EBX cycles. */
  SLEEP: 5,
  // The KVM module's interface (the ioctls of /dev/kvm, the VM fd and the vCPU fd, as system calls).
  KVM_CREATE_VM: 0x100,
  /** EBX = VM fd, ECX = pointer to a kvm_userspace_memory_region. */
  KVM_SET_USER_MEMORY_REGION: 0x101,
  /** EBX = VM fd; returns the vCPU fd and maps its kvm_run page at KVM_RUN_ADDR. */
  KVM_CREATE_VCPU: 0x102,
  /** EBX = vCPU fd, ECX = pointer to a kvm_regs. */
  KVM_SET_REGS: 0x103,
  /** EBX = vCPU fd. Returns 0 with the exit in kvm_run, or a negative errno. */
  KVM_RUN: 0x104,
  KVM_GET_REGS: 0x105,
  /** EBX = address, ECX = length: anonymous memory, populated at once (MAP_POPULATE). */
  MMAP: 0x106,
} as const;

export const ERRNO = { EBADF: 9, ENOMEM: 12, EFAULT: 14, EEXIST: 17, EINVAL: 22, ENOSYS: 38, EIO: 5 } as const;

/** struct kvm_userspace_memory_region: slot, flags, guest_phys_addr, memory_size, userspace_addr (32-bit each). */
export const REGION = { SLOT: 0, FLAGS: 4, GPA: 8, SIZE: 12, HVA: 16, BYTES: 20 } as const;

/** struct kvm_regs (32-bit subset): the general registers, EIP and EFLAGS. */
export const KVM_REGS = {
  EAX: 0,
  EBX: 4,
  ECX: 8,
  EDX: 12,
  ESI: 16,
  EDI: 20,
  ESP: 24,
  EBP: 28,
  EIP: 32,
  EFLAGS: 36,
  BYTES: 40,
} as const;

// ---- struct kvm_run (one page shared by the kernel module and the VMM process) ----

/** Exit reasons as KVM numbers them (include/uapi/linux/kvm.h). */
export const KVM_EXIT = {
  UNKNOWN: 0,
  IO: 2,
  HYPERCALL: 3,
  HLT: 5,
  MMIO: 6,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  INTERNAL_ERROR: 17,
} as const;

export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

export const KVM_RUN = {
  /** u32: KVM_EXIT_*. */
  EXIT_REASON: 4,
  // io (exit 2)
  IO_DIRECTION: 8,
  IO_SIZE: 9,
  IO_PORT: 10,
  IO_COUNT: 12,
  IO_DATA_OFFSET: 16,
  // mmio (exit 6): phys_addr (u64), data[8], len (u32), is_write (u8)
  MMIO_PHYS: 8,
  MMIO_DATA: 16,
  MMIO_LEN: 24,
  MMIO_IS_WRITE: 28,
  // hypercall (exit 3): nr, args[3], ret (u32 each in this 32-bit ABI)
  HC_NR: 8,
  HC_ARGS: 12,
  HC_RET: 24,
  /** The I/O data area (io.data_offset points here). */
  DATA: 0x100,
} as const;

/** Functions of the user-space VMM library (EAX of the OUT to VMM_LIB_PORT). */
export const VMM_LIB = {
  /** Load the guest image into guest RAM; EBX = pointer to a kvm_regs to fill with the entry state. */
  LOAD_IMAGE: 1,
  /** Emulate the port I/O described in kvm_run. Returns 0 to continue, 1 when the VM powered off, -1 on a device-model error. */
  IO: 2,
  MMIO: 3,
  HYPERCALL: 4,
  /** The VM stopped (kvm_run says why): record it. */
  VM_STOPPED: 5,
} as const;
