// The disassembler: objdump-compatible (-M intel) text for decoded instructions, a linear sweep and a listing.
export {
  type DisasmLine,
  type DisasmOptions,
  type DisasmResult,
  type DisassembleOptions,
  disassemble,
  disassembleOne,
  formatListing,
  symbolResolver,
} from "./disasm.js";
export { formatInsn, objdumpMnemonic, type SymbolResolver } from "./format.js";
