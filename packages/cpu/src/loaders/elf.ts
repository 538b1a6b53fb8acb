// ELF32 loader (ET_EXEC, EM_386): copies each PT_LOAD segment to its physical address and zero-fills
// the rest of its memory size. Anything else gets an error that says what the file is instead.

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

export interface LoadSegment {
  /** Physical address the bytes go to (p_paddr; the machine boots with paging off). */
  address: number;
  bytes: Uint8Array;
  /** Total size in memory (bytes beyond bytes.length are zero). */
  memorySize: number;
}

export interface ElfImage {
  entry: number;
  segments: LoadSegment[];
  /** Symbols from .symtab, if present (for debuggers). */
  symbols: Map<string, number>;
}

export class ImageFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageFormatError";
  }
}

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

export function parseElf32(bytes: Uint8Array, name = "image"): ElfImage {
  const fail = (why: string): never => {
    throw new ImageFormatError(`${name}: ${why}`);
  };
  if (!isElf(bytes)) fail("not an ELF file (bad magic)");
  if (bytes.length < 52) fail("truncated ELF header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[4] === 2) fail("ELF64 is not supported: vmxlab runs 32-bit code (build with gcc -m32)");
  if (bytes[4] !== 1) fail(`unknown ELF class ${bytes[4]}`);
  if (bytes[5] !== 1) fail("big-endian ELF is not supported");
  const type = view.getUint16(16, true);
  const machine = view.getUint16(18, true);
  if (type !== 2)
    fail(`ELF type ${type} is not supported: only executables (ET_EXEC, 2) load; link with -static and no -pie`);
  if (machine !== 3) fail(`ELF machine ${machine} is not Intel 80386 (EM_386, 3)`);
  const entry = view.getUint32(24, true);
  const phoff = view.getUint32(28, true);
  const phentsize = view.getUint16(42, true);
  const phnum = view.getUint16(44, true);
  if (phentsize < 32 || phoff + phnum * phentsize > bytes.length) fail("program header table is outside the file");
  const segments: LoadSegment[] = [];
  for (let k = 0; k < phnum; k++) {
    const o = phoff + k * phentsize;
    if (view.getUint32(o, true) !== 1) continue; // PT_LOAD only
    const offset = view.getUint32(o + 4, true);
    const paddr = view.getUint32(o + 12, true);
    const filesz = view.getUint32(o + 16, true);
    const memsz = view.getUint32(o + 20, true);
    if (offset + filesz > bytes.length) fail(`segment ${k} runs past the end of the file`);
    if (memsz < filesz) fail(`segment ${k} has p_memsz < p_filesz`);
    segments.push({ address: paddr, bytes: bytes.subarray(offset, offset + filesz), memorySize: memsz });
  }
  if (segments.length === 0) fail("no loadable (PT_LOAD) segments");
  return { entry, segments, symbols: readSymbols(bytes, view) };
}

function readSymbols(bytes: Uint8Array, view: DataView): Map<string, number> {
  const out = new Map<string, number>();
  const shoff = view.getUint32(32, true);
  const shentsize = view.getUint16(46, true);
  const shnum = view.getUint16(48, true);
  if (shoff === 0 || shentsize < 40 || shoff + shnum * shentsize > bytes.length) return out;
  const decoder = new TextDecoder();
  for (let k = 0; k < shnum; k++) {
    const sh = shoff + k * shentsize;
    if (view.getUint32(sh + 4, true) !== 2) continue; // SHT_SYMTAB
    const off = view.getUint32(sh + 16, true);
    const size = view.getUint32(sh + 20, true);
    const link = view.getUint32(sh + 24, true);
    const strSh = shoff + link * shentsize;
    if (strSh + 40 > bytes.length) continue;
    const strOff = view.getUint32(strSh + 16, true);
    for (let s = off; s + 16 <= off + size && s + 16 <= bytes.length; s += 16) {
      const nameOff = view.getUint32(s, true);
      const value = view.getUint32(s + 4, true);
      const info = bytes[s + 12]!;
      if ((info & 0xf) > 2 || nameOff === 0) continue; // NOTYPE, OBJECT, FUNC
      let end = strOff + nameOff;
      while (end < bytes.length && bytes[end] !== 0) end++;
      const name = decoder.decode(bytes.subarray(strOff + nameOff, end));
      if (name) out.set(name, value);
    }
  }
  return out;
}
