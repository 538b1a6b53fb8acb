// The I/O-instruction exit qualification (Intel SDM Vol. 3C, Table 28-5), decoded into a new object or
// into one the caller reuses (the hosted KVM module and handleIo decode one per exit).

import { describe, expect, it } from "vitest";
import { decodeIoQualification } from "../src/index.js";

describe("decodeIoQualification", () => {
  it("decodes size, direction, string, REP, operand encoding and port", () => {
    // OUT DX, AL to COM1: size 1, out, DX operand.
    expect(decodeIoQualification(0x03f8_0000)).toEqual({
      size: 1,
      input: false,
      string: false,
      rep: false,
      immediate: false,
      port: 0x3f8,
    });
    // REP INSD from port 0x1F0 with an immediate operand bit: size 4 (bits 2:0 = 3), in, string, REP.
    expect(decodeIoQualification(0x01f0_0000 | 0x40 | 0x20 | 0x10 | 0x08 | 3)).toEqual({
      size: 4,
      input: true,
      string: true,
      rep: true,
      immediate: true,
      port: 0x1f0,
    });
  });

  it("writes every field into the object it is given and returns it", () => {
    const scratch = decodeIoQualification(0x00e9_0000 | 0x40 | 0x08 | 1);
    expect(scratch).toEqual({ size: 2, input: true, string: false, rep: false, immediate: true, port: 0xe9 });
    const again = decodeIoQualification(0xffff_0000 | 0x10 | 3, scratch);
    expect(again).toBe(scratch);
    expect(scratch).toEqual({ size: 4, input: false, string: true, rep: false, immediate: false, port: 0xffff });
  });
});
