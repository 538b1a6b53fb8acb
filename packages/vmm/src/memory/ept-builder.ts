// The EPT tables a VM runs on (Intel SDM Vol. 3C, 29.3), built by the hypervisor in its own pages:
// a PML4 with one entry, a PDPT covering the 4 GiB guest-physical space, page directories and page
// tables with 4 KiB leaves (write-back, R/W/X as asked). Guest memory is mapped as it is populated.

import type { PhysicalMemory } from "@vmxlab/cpu";
import { PAGE, type PageAllocator } from "./allocator.js";

export const EPT_RWX = 7;
const EPT_WB_LEAF = 6 << 3;

export class EptBuilder {
  /** Table pages for mapping `bytes` of guest-physical memory from 0 (PML4, PDPT, a PD per GiB, a PT per 2 MiB). */
  static tablePagesFor(bytes: number): number {
    return 2 + Math.ceil(bytes / 2 ** 30) + Math.ceil(bytes / (2 << 20));
  }

  readonly pml4: number;
  private readonly pdpt: number;
  /** Pages used for tables (the hypervisor's memory overhead per VM). */
  tablePages = 2;

  constructor(
    private readonly mem: PhysicalMemory,
    private readonly allocator: PageAllocator,
  ) {
    this.pml4 = this.table();
    this.pdpt = this.table();
    this.mem.write32(this.pml4, this.pdpt | EPT_RWX);
  }

  private table(): number {
    const page = this.allocator.allocate();
    this.mem.u8.fill(0, page, page + PAGE);
    return page;
  }

  /** EPTP: PML4 address, walk length 4 (bits 5:3 = 3), write-back (6), A/D flags (bit 6) if asked. */
  eptp(accessedDirty: boolean): number {
    return this.pml4 | (3 << 3) | 6 | (accessedDirty ? 0x40 : 0);
  }

  private next(entryAddress: number): number {
    const e = this.mem.read32(entryAddress);
    if (e & 7) return e & ~0xfff;
    const t = this.table();
    this.tablePages++;
    this.mem.write32(entryAddress, t | EPT_RWX);
    this.mem.write32(entryAddress + 4, 0);
    return t;
  }

  /** Maps one 4 KiB guest page to a host page with the given R/W/X permissions. */
  map(gpa: number, hpa: number, perms = EPT_RWX): void {
    const pd = this.next(this.pdpt + ((gpa >>> 30) & 3) * 8);
    const pt = this.next(pd + ((gpa >>> 21) & 0x1ff) * 8);
    const pte = pt + ((gpa >>> 12) & 0x1ff) * 8;
    this.mem.write32(pte, (hpa & ~0xfff) | EPT_WB_LEAF | perms);
    this.mem.write32(pte + 4, 0);
  }

  unmap(gpa: number): void {
    const pdpte = this.mem.read32(this.pdpt + ((gpa >>> 30) & 3) * 8);
    if (!(pdpte & 7)) return;
    const pde = this.mem.read32((pdpte & ~0xfff) + ((gpa >>> 21) & 0x1ff) * 8);
    if (!(pde & 7)) return;
    this.mem.write32((pde & ~0xfff) + ((gpa >>> 12) & 0x1ff) * 8, 0);
  }
}
