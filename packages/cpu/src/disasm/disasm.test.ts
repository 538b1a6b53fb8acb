// The disassembler API, with expectations taken from objdump 2.40 (`-M intel`) output. The exhaustive
// comparison against a live objdump is objdump.test.ts.
import { describe, expect, it } from "vitest";
import { disassemble, disassembleOne, formatListing } from "./index.js";

const bytes = (hex: string) => Uint8Array.from(hex.split(/\s+/).filter(Boolean), (h) => Number.parseInt(h, 16));
const text = (hex: string, address = 0x100000) => disassembleOne(bytes(hex), 0, address).text;

describe("disassembleOne", () => {
  it("returns the text, length and bytes of one instruction", () => {
    const r = disassembleOne(bytes("90 b8 01 00 00 00 90"), 1, 0x100001);
    expect(r.text).toBe("mov    eax,0x1");
    expect(r.length).toBe(5);
    expect([...r.bytes]).toEqual([0xb8, 1, 0, 0, 0]);
  });

  it.each([
    ["8b 45 fc", "mov    eax,DWORD PTR [ebp-0x4]"],
    ["8b 4c 88 08", "mov    ecx,DWORD PTR [eax+ecx*4+0x8]"],
    ["8b 04 25 00 10 00 00", "mov    eax,DWORD PTR [eiz*1+0x1000]"],
    ["8b 05 00 10 00 00", "mov    eax,DWORD PTR ds:0x1000"],
    ["64 a1 00 10 00 00", "mov    eax,fs:0x1000"],
    ["83 c0 ff", "add    eax,0xffffffff"],
    ["66 83 c0 ff", "add    ax,0xffff"],
    ["6a 80", "push   0xffffff80"],
    ["60", "pusha"],
    ["66 60", "pushaw"],
    ["c2 08 00", "ret    0x8"],
    ["66 c3", "retw"],
    ["f3 ab", "rep stos DWORD PTR es:[edi],eax"],
    ["f3 a6", "repz cmps BYTE PTR ds:[esi],BYTE PTR es:[edi]"],
    ["2e a5", "movs   DWORD PTR es:[edi],DWORD PTR cs:[esi]"],
    ["26 ab", "es stos DWORD PTR es:[edi],eax"],
    ["ff 18", "call   FWORD PTR [eax]"],
    ["9a 78 56 34 12 cd ab", "call   0xabcd:0x12345678"],
    ["0f 01 10", "lgdtd  [eax]"],
    ["0f 01 38", "invlpg BYTE PTR [eax]"],
    ["0f 00 c0", "sldt   eax"],
    ["8c 18", "mov    WORD PTR [eax],ds"],
    ["66 8c 18", "data16 mov WORD PTR [eax],ds"],
    ["d1 f0", "shl    eax,1"],
    ["66 90", "xchg   ax,ax"],
    ["f3 90", "pause"],
    ["f0 01 00", "lock add DWORD PTR [eax],eax"],
    ["f2 f0 87 00", "xacquire lock xchg DWORD PTR [eax],eax"],
    ["f3 89 28", "xrelease mov DWORD PTR [eax],ebp"],
    ["3e ff 10", "notrack call DWORD PTR [eax]"],
    ["f2 c3", "bnd ret"],
    ["2e 74 00", "cs je  0x100003"],
    ["f0 0f 22 c0", "mov    cr8,eax"],
    ["0f c7 30", "vmptrld QWORD PTR [eax]"],
    ["66 0f 38 80 00", "invept eax,OWORD PTR [eax]"],
    ["0f 0f", "(bad)"],
  ])("%s -> %s", (hex, expected) => {
    expect(text(hex)).toBe(expected);
  });

  it("computes branch targets from the address", () => {
    expect(text("eb 80", 0x100000)).toBe("jmp    0xfff82");
    expect(text("e8 fb ff ff ff", 0x7c00)).toBe("call   0x7c00");
    expect(text("66 e8 00 00", 0x100000)).toBe("callw  0x4");
    expect(text("74 fe", 0)).toBe("je     0x0");
    expect(text("e9 00 00 00 00", 0xfffffffb)).toBe("jmp    0x0");
  });

  it("annotates branch targets with the nearest symbol at or below them", () => {
    const symbols = new Map([
      [0, "_start"],
      [0xe, "foo"],
    ]);
    expect(disassembleOne(bytes("e8 09 00 00 00"), 0, 0, { symbols }).text).toBe("call   e <foo>");
    expect(disassembleOne(bytes("eb 09"), 0, 5, { symbols }).text).toBe("jmp    10 <foo+0x2>");
    expect(disassembleOne(bytes("74 f7"), 0, 7, { symbols }).text).toBe("je     0 <_start>");
    // No symbol at or below the target: the plain address.
    expect(disassembleOne(bytes("eb 00"), 0, 0x1000, { symbols: new Map([[0x2000, "x"]]) }).text).toBe("jmp    0x1002");
  });

  it("shows an instruction cut off by the end of the bytes as data", () => {
    const r = disassembleOne(bytes("b8 01 00"), 0, 0);
    expect(r).toEqual({ text: ".byte 0xb8", length: 1, bytes: bytes("b8") });
  });
});

describe("disassemble and formatListing", () => {
  const program = bytes(
    "55 89 e5 83 ec 10 c7 45 fc 01 00 00 00 8b 04 25 00 10 00 00 e8 e7 ff ff ff 74 f0 f3 ab c9 c3 0f 01 c1",
  );

  it("sweeps linearly", () => {
    const lines = disassemble(program, 0x100000);
    expect(lines.map((l) => [l.address, l.text])).toEqual([
      [0x100000, "push   ebp"],
      [0x100001, "mov    ebp,esp"],
      [0x100003, "sub    esp,0x10"],
      [0x100006, "mov    DWORD PTR [ebp-0x4],0x1"],
      [0x10000d, "mov    eax,DWORD PTR [eiz*1+0x1000]"],
      [0x100014, "call   0x100000"],
      [0x100019, "je     0x10000b"],
      [0x10001b, "rep stos DWORD PTR es:[edi],eax"],
      [0x10001d, "leave"],
      [0x10001e, "ret"],
      [0x10001f, "vmcall"],
    ]);
  });

  it("honours start, end and maxInstructions", () => {
    expect(disassemble(program, 0x100000, { start: 1, maxInstructions: 2 }).map((l) => l.text)).toEqual([
      "mov    ebp,esp",
      "sub    esp,0x10",
    ]);
    const cut = disassemble(program, 0x100000, { start: 3, end: 8 });
    expect(cut.map((l) => l.text)).toEqual(["sub    esp,0x10", ".byte 0xc7", "inc    ebp"]);
  });

  it("lays out objdump's columns", () => {
    expect(formatListing(disassemble(program, 0x100000))).toBe(
      [
        "  100000:\t55                   \tpush   ebp",
        "  100001:\t89 e5                \tmov    ebp,esp",
        "  100003:\t83 ec 10             \tsub    esp,0x10",
        "  100006:\tc7 45 fc 01 00 00 00 \tmov    DWORD PTR [ebp-0x4],0x1",
        "  10000d:\t8b 04 25 00 10 00 00 \tmov    eax,DWORD PTR [eiz*1+0x1000]",
        "  100014:\te8 e7 ff ff ff       \tcall   0x100000",
        "  100019:\t74 f0                \tje     0x10000b",
        "  10001b:\tf3 ab                \trep stos DWORD PTR es:[edi],eax",
        "  10001d:\tc9                   \tleave",
        "  10001e:\tc3                   \tret",
        "  10001f:\t0f 01 c1             \tvmcall",
      ].join("\n"),
    );
  });

  it("continues long instructions on a second line and narrows small addresses", () => {
    const lines = disassemble(bytes("c7 84 24 00 01 00 00 78 56 34 12 90"), 0);
    expect(formatListing(lines)).toBe(
      [
        "   0:\tc7 84 24 00 01 00 00 \tmov    DWORD PTR [esp+0x100],0x12345678",
        "   7:\t78 56 34 12 ",
        "   b:\t90                   \tnop",
      ].join("\n"),
    );
    expect(formatListing(disassemble(bytes("90"), 0x7c00))).toBe("    7c00:\t90                   \tnop");
    expect(formatListing([])).toBe("");
  });

  it("prints label lines for symbols", () => {
    const symbols = new Map([
      [0x1000, "_start"],
      [0x1002, "loop"],
    ]);
    const lines = disassemble(bytes("90 90 eb fe"), 0x1000, { symbols });
    expect(lines[0]!.label).toBe("_start");
    expect(formatListing(lines)).toBe(
      [
        "00001000 <_start>:",
        "    1000:\t90                   \tnop",
        "    1001:\t90                   \tnop",
        "",
        "00001002 <loop>:",
        "    1002:\teb fe                \tjmp    1002 <loop>",
      ].join("\n"),
    );
  });
});
