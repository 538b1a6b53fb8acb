/*
 * gen-alu.c — records what the host's real x86 CPU computes for IA-32 ALU instructions.
 *
 * Every instruction is executed natively (x86-64 host, GCC inline assembly, Intel syntax via
 * -masm=intel) with fixed registers: EAX/AX/AL is the destination, ECX/CX/CL the source (or the
 * shift count), EDX/DX the third operand (SHLD/SHRD source) or the high half (MUL/DIV).  The very
 * same assembly text is later assembled in 32-bit mode by gen-alu.sh (GNU as --32) to obtain the
 * instruction bytes, so the recorded text, bytes and native behaviour always agree.  8/16/32-bit
 * operations behave identically in 64-bit and 32-bit mode (no REX prefix is involved).
 *
 * Input EFLAGS are loaded with PUSH/POPFQ right before the instruction and read back with
 * PUSHFQ/POP right after it; only the six arithmetic flags are controlled and recorded.
 *
 * Usage:
 *   gen-alu --list                       print every distinct instruction text, one per line
 *   gen-alu --bytes FILE [--generated-by S]
 *                                        print alu-cases.json to stdout; FILE holds lines
 *                                        "<insn text>\t<hex bytes>" (made by gen-alu.sh)
 * A per-instruction case count summary goes to stderr.
 *
 * Build: gcc -O2 -masm=intel -mno-red-zone (see gen-alu.sh).  -mno-red-zone matters: the asm
 * pushes onto the stack.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ARITH (CF | PF | AF | ZF | SF | OF) /* 0x8D5 */

typedef struct {
  uint32_t eax, ecx, edx, fl;
} regs_t;

typedef void (*runfn_t)(regs_t *);

/* Input generators. */
enum gen {
  G_BIN,    /* eax op= ecx  (also MUL/IMUL one-operand, IMUL two-operand, XCHG) */
  G_UN,     /* op eax */
  G_SHIFT,  /* shift/rotate eax by CL (param < 0) or by the immediate param */
  G_IMUL3,  /* imul eax, ecx, imm */
  G_DIV,    /* param 0: DIV, 1: IDIV */
  G_CONV,   /* CBW/CWDE/CWD/CDQ, param = source width */
  G_MOVX,   /* MOVZX/MOVSX eax, cl/cx, param = source width */
  G_BSWAP,
  G_SETCC,  /* all 64 combinations of the six flags */
  G_CMOV,   /* all 32 combinations of CF PF ZF SF OF, AF random */
  G_BT,     /* bit offset in ECX (param < 0) or immediate param */
  G_SHXD,   /* shld/shrd eax, edx, cl (param < 0) or imm param */
};

/* Which flags are architecturally defined after the instruction (Intel SDM). */
enum rule {
  R_ALL,     /* all six defined (written from the result, or left unchanged) */
  R_LOGIC,   /* AND OR XOR TEST: AF undefined */
  R_SHL_SHR, /* count 0: unchanged; AF undefined; OF undefined for count > 1; CF undefined for count >= width */
  R_SAR,     /* count 0: unchanged; AF undefined; OF undefined for count > 1 */
  R_ROT,     /* ROL ROR RCL RCR: count 0: unchanged; OF undefined for count > 1; SF ZF AF PF unchanged */
  R_MUL,     /* MUL IMUL: only CF OF defined */
  R_DIV,     /* DIV IDIV: nothing defined */
  R_BT,      /* BT BTS BTR BTC: CF = bit, ZF unchanged; OF SF AF PF undefined */
  R_SHXD,    /* SHLD SHRD: like shifts; count > width (16-bit): result and flags undefined -> not recorded */
};

typedef struct {
  const char *id;
  const char *text;
  int size;
  enum gen gen;
  enum rule rule;
  int param;
  int dual; /* run edge cases with all six flags clear and all six set */
  runfn_t fn;
  int ncases, nskipped, nfaulted;
} insn_t;

/* ---------------------------------------------------------------------------------------------
 * The instruction list.  X(id, text, size, generator, rule, param, dual)
 * ------------------------------------------------------------------------------------------- */

#define BIN3(X, op, rule, dual)                        \
  X(op##_8, #op " al, cl", 8, G_BIN, rule, 0, dual)    \
  X(op##_16, #op " ax, cx", 16, G_BIN, rule, 0, dual)  \
  X(op##_32, #op " eax, ecx", 32, G_BIN, rule, 0, dual)

#define UN3(X, op, rule, dual)                   \
  X(op##_8, #op " al", 8, G_UN, rule, 0, dual)   \
  X(op##_16, #op " ax", 16, G_UN, rule, 0, dual) \
  X(op##_32, #op " eax", 32, G_UN, rule, 0, dual)

#define SH1(X, op, reg, size, rule, dual)                                \
  X(op##_##reg##_cl, #op " " #reg ", cl", size, G_SHIFT, rule, -1, dual) \
  X(op##_##reg##_1, #op " " #reg ", 1", size, G_SHIFT, rule, 1, dual)    \
  X(op##_##reg##_i0, #op " " #reg ", 0", size, G_SHIFT, rule, 0, dual)   \
  X(op##_##reg##_i4, #op " " #reg ", 4", size, G_SHIFT, rule, 4, dual)   \
  X(op##_##reg##_i31, #op " " #reg ", 31", size, G_SHIFT, rule, 31, dual)

#define SH3(X, op, rule, dual)        \
  SH1(X, op, al, 8, rule, dual)       \
  SH1(X, op, ax, 16, rule, dual)      \
  SH1(X, op, eax, 32, rule, dual)

#define MUL3(X, op)                              \
  X(op##_8, #op " cl", 8, G_BIN, R_MUL, 0, 0)    \
  X(op##_16, #op " cx", 16, G_BIN, R_MUL, 0, 0)  \
  X(op##_32, #op " ecx", 32, G_BIN, R_MUL, 0, 0)

#define DIV3(X, op, sgn)                            \
  X(op##_8, #op " cl", 8, G_DIV, R_DIV, sgn, 0)     \
  X(op##_16, #op " cx", 16, G_DIV, R_DIV, sgn, 0)   \
  X(op##_32, #op " ecx", 32, G_DIV, R_DIV, sgn, 0)

#define BTX(X, op)                                        \
  X(op##_16, #op " ax, cx", 16, G_BT, R_BT, -1, 0)        \
  X(op##_32, #op " eax, ecx", 32, G_BT, R_BT, -1, 0)      \
  X(op##_16_i5, #op " ax, 5", 16, G_BT, R_BT, 5, 0)       \
  X(op##_16_i15, #op " ax, 15", 16, G_BT, R_BT, 15, 0)    \
  X(op##_16_i20, #op " ax, 20", 16, G_BT, R_BT, 20, 0)    \
  X(op##_32_i5, #op " eax, 5", 32, G_BT, R_BT, 5, 0)      \
  X(op##_32_i31, #op " eax, 31", 32, G_BT, R_BT, 31, 0)   \
  X(op##_32_i40, #op " eax, 40", 32, G_BT, R_BT, 40, 0)

#define SHXD(X, op)                                             \
  X(op##_16_cl, #op " ax, dx, cl", 16, G_SHXD, R_SHXD, -1, 0)   \
  X(op##_32_cl, #op " eax, edx, cl", 32, G_SHXD, R_SHXD, -1, 0) \
  X(op##_16_i1, #op " ax, dx, 1", 16, G_SHXD, R_SHXD, 1, 0)     \
  X(op##_16_i4, #op " ax, dx, 4", 16, G_SHXD, R_SHXD, 4, 0)     \
  X(op##_16_i16, #op " ax, dx, 16", 16, G_SHXD, R_SHXD, 16, 0)  \
  X(op##_32_i1, #op " eax, edx, 1", 32, G_SHXD, R_SHXD, 1, 0)   \
  X(op##_32_i4, #op " eax, edx, 4", 32, G_SHXD, R_SHXD, 4, 0)   \
  X(op##_32_i31, #op " eax, edx, 31", 32, G_SHXD, R_SHXD, 31, 0)

#define CC(X, M) M(X, o) M(X, no) M(X, b) M(X, ae) M(X, e) M(X, ne) M(X, be) M(X, a) \
                 M(X, s) M(X, ns) M(X, p) M(X, np) M(X, l) M(X, ge) M(X, le) M(X, g)
#define SETCC1(X, cc) X(set##cc, "set" #cc " al", 8, G_SETCC, R_ALL, 0, 0)
#define CMOV1(X, cc)                                                    \
  X(cmov##cc##_16, "cmov" #cc " ax, cx", 16, G_CMOV, R_ALL, 0, 0)       \
  X(cmov##cc##_32, "cmov" #cc " eax, ecx", 32, G_CMOV, R_ALL, 0, 0)

#define INSNS(X)                                                  \
  BIN3(X, add, R_ALL, 0)                                          \
  BIN3(X, or, R_LOGIC, 0)                                         \
  BIN3(X, adc, R_ALL, 1)                                          \
  BIN3(X, sbb, R_ALL, 1)                                          \
  BIN3(X, and, R_LOGIC, 0)                                        \
  BIN3(X, sub, R_ALL, 0)                                          \
  BIN3(X, xor, R_LOGIC, 0)                                        \
  BIN3(X, cmp, R_ALL, 0)                                          \
  BIN3(X, test, R_LOGIC, 0)                                       \
  UN3(X, inc, R_ALL, 1)                                           \
  UN3(X, dec, R_ALL, 1)                                           \
  UN3(X, neg, R_ALL, 0)                                           \
  UN3(X, not, R_ALL, 1)                                           \
  SH3(X, shl, R_SHL_SHR, 0)                                       \
  SH3(X, shr, R_SHL_SHR, 0)                                       \
  SH3(X, sar, R_SAR, 0)                                           \
  SH3(X, rol, R_ROT, 1)                                           \
  SH3(X, ror, R_ROT, 1)                                           \
  SH3(X, rcl, R_ROT, 1)                                           \
  SH3(X, rcr, R_ROT, 1)                                           \
  SHXD(X, shld)                                                   \
  SHXD(X, shrd)                                                   \
  MUL3(X, mul)                                                    \
  MUL3(X, imul)                                                   \
  X(imul2_16, "imul ax, cx", 16, G_BIN, R_MUL, 0, 0)              \
  X(imul2_32, "imul eax, ecx", 32, G_BIN, R_MUL, 0, 0)            \
  X(imul3_16_a, "imul ax, cx, -3", 16, G_IMUL3, R_MUL, 0, 0)      \
  X(imul3_16_b, "imul ax, cx, 300", 16, G_IMUL3, R_MUL, 0, 0)     \
  X(imul3_16_c, "imul ax, cx, 0x7fff", 16, G_IMUL3, R_MUL, 0, 0)  \
  X(imul3_32_a, "imul eax, ecx, -3", 32, G_IMUL3, R_MUL, 0, 0)    \
  X(imul3_32_b, "imul eax, ecx, 127", 32, G_IMUL3, R_MUL, 0, 0)   \
  X(imul3_32_c, "imul eax, ecx, 0x12345", 32, G_IMUL3, R_MUL, 0, 0) \
  X(imul3_32_d, "imul eax, ecx, -100000", 32, G_IMUL3, R_MUL, 0, 0) \
  DIV3(X, div, 0)                                                 \
  DIV3(X, idiv, 1)                                                \
  X(cbw, "cbw", 16, G_CONV, R_ALL, 8, 1)                          \
  X(cwde, "cwde", 32, G_CONV, R_ALL, 16, 1)                       \
  X(cwd, "cwd", 16, G_CONV, R_ALL, 16, 1)                         \
  X(cdq, "cdq", 32, G_CONV, R_ALL, 32, 1)                         \
  X(movzx_16_8, "movzx ax, cl", 16, G_MOVX, R_ALL, 8, 1)          \
  X(movzx_32_8, "movzx eax, cl", 32, G_MOVX, R_ALL, 8, 1)         \
  X(movzx_32_16, "movzx eax, cx", 32, G_MOVX, R_ALL, 16, 1)       \
  X(movsx_16_8, "movsx ax, cl", 16, G_MOVX, R_ALL, 8, 1)          \
  X(movsx_32_8, "movsx eax, cl", 32, G_MOVX, R_ALL, 8, 1)         \
  X(movsx_32_16, "movsx eax, cx", 32, G_MOVX, R_ALL, 16, 1)       \
  X(bswap, "bswap eax", 32, G_BSWAP, R_ALL, 0, 1)                 \
  X(xchg_8, "xchg al, cl", 8, G_BIN, R_ALL, 0, 0)                 \
  X(xchg_16, "xchg ax, cx", 16, G_BIN, R_ALL, 0, 0)               \
  X(xchg_32, "xchg eax, ecx", 32, G_BIN, R_ALL, 0, 0)             \
  CC(X, SETCC1)                                                   \
  CC(X, CMOV1)                                                    \
  BTX(X, bt)                                                      \
  BTX(X, bts)                                                     \
  BTX(X, btr)                                                     \
  BTX(X, btc)

/* One native runner per instruction: load flags, execute, read flags back. */
#define DEFINE_RUNNER(id, text, size, gen, rule, param, dual)                                 \
  static void run_##id(regs_t *r) {                                                           \
    uint64_t a = r->eax, c = r->ecx, d = r->edx, f = (uint64_t)((r->fl & ARITH) | 0x2u);      \
    __asm__ volatile("push %[f]\n\tpopfq\n\t" text "\n\tpushfq\n\tpop %[f]"                   \
                     : "+a"(a), "+c"(c), "+d"(d), [f] "+r"(f)                                 \
                     :                                                                        \
                     : "cc", "memory");                                                       \
    r->eax = (uint32_t)a;                                                                     \
    r->ecx = (uint32_t)c;                                                                     \
    r->edx = (uint32_t)d;                                                                     \
    r->fl = (uint32_t)f & ARITH;                                                              \
  }
INSNS(DEFINE_RUNNER)

#define TABLE_ENTRY(id, text, size, gen, rule, param, dual) {#id, text, size, gen, rule, param, dual, run_##id, 0, 0, 0},
static insn_t TABLE[] = {INSNS(TABLE_ENTRY)};
#define NINSNS ((int)(sizeof TABLE / sizeof TABLE[0]))

/* ---------------------------------------------------------------------------------------------
 * Pseudo-random numbers: xorshift32, re-seeded per instruction from a hash of its text so that
 * adding an instruction does not change the data of the others.
 * ------------------------------------------------------------------------------------------- */
#define BASE_SEED 0x2545F491u
static uint32_t rng;
static uint32_t rnd(void) {
  uint32_t x = rng;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return rng = x;
}
static void seed_for(const char *text) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const char *p = text; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  rng = (h ^ BASE_SEED) ? (h ^ BASE_SEED) : 1;
  for (int i = 0; i < 8; i++) rnd();
}

static uint32_t wmask(int size) { return size == 32 ? 0xFFFFFFFFu : (1u << size) - 1; }
static uint32_t sign_bit(int size) { return 1u << (size - 1); }
/* Put an operand of the given width into the low bits of a register whose other bits are garbage. */
static uint32_t put(int size, uint32_t v) { return (rnd() & ~wmask(size)) | (v & wmask(size)); }

static const uint32_t EDGE8[] = {0x00, 0x01, 0x0F, 0x10, 0x7F, 0x80, 0x81, 0xFE, 0xFF};
static const uint32_t EDGE16[] = {0x0000, 0x0001, 0x007F, 0x0080, 0x00FF, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF};
static const uint32_t EDGE32[] = {0x00000000, 0x00000001, 0x0000007F, 0x00000080, 0x000000FF, 0x00007FFF,
                                  0x00008000, 0x0000FFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF};
static const uint32_t *edges(int size, int *n) {
  if (size == 8) { *n = (int)(sizeof EDGE8 / sizeof EDGE8[0]); return EDGE8; }
  if (size == 16) { *n = (int)(sizeof EDGE16 / sizeof EDGE16[0]); return EDGE16; }
  *n = (int)(sizeof EDGE32 / sizeof EDGE32[0]);
  return EDGE32;
}

/* A random operand: mostly uniform, sometimes small (positive or negative), sometimes near an edge. */
static uint32_t rnd_operand(int size) {
  uint32_t k = rnd() % 10, v;
  if (k < 6) {
    v = rnd();
  } else if (k < 8) {
    v = rnd() & 0xF;
    if (rnd() & 1) v = (uint32_t)-(int32_t)(v + 1);
  } else {
    int n;
    const uint32_t *e = edges(size, &n);
    v = e[rnd() % (uint32_t)n] + (rnd() % 5) - 2;
  }
  return v & wmask(size);
}

/* Shift/rotate sources and counts. */
static const uint32_t SHIFT_COUNTS[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33};
#define NSHIFT_COUNTS ((int)(sizeof SHIFT_COUNTS / sizeof SHIFT_COUNTS[0]))
static int shift_values(int size, uint32_t *out) {
  uint32_t m = wmask(size), s = sign_bit(size);
  out[0] = 1;
  out[1] = s;
  out[2] = s | 1;
  out[3] = s - 1;
  out[4] = m;
  out[5] = 0xA5A5A5A5u & m;
  return 6;
}

/* ---------------------------------------------------------------------------------------------
 * Defined-flag masks.  Returns -1 if the case is architecturally undefined as a whole (SHLD/SHRD
 * 16-bit with count > 16) and must not be recorded.
 * ------------------------------------------------------------------------------------------- */
static int count_of(const insn_t *I, const regs_t *in) {
  uint32_t raw = I->param < 0 ? (in->ecx & 0xFF) : (uint32_t)I->param;
  return (int)(raw & 0x1F); /* 8/16/32-bit operands: count masked to 5 bits */
}

static int defined_mask(const insn_t *I, const regs_t *in) {
  int c;
  switch (I->rule) {
    case R_ALL:
      return ARITH;
    case R_LOGIC:
      return ARITH & ~AF;
    case R_MUL:
      return CF | OF;
    case R_DIV:
      return 0;
    case R_BT:
      return CF | ZF;
    case R_SHL_SHR:
    case R_SAR: {
      c = count_of(I, in);
      if (c == 0) return ARITH;
      int m = ARITH & ~AF;
      if (c > 1) m &= ~OF;
      if (I->rule == R_SHL_SHR && c >= I->size) m &= ~CF;
      return m;
    }
    case R_ROT:
      c = count_of(I, in);
      if (c <= 1) return ARITH;
      return ARITH & ~OF;
    case R_SHXD:
      c = count_of(I, in);
      if (c == 0) return ARITH;
      if (c > I->size) return -1;
      return c == 1 ? (ARITH & ~AF) : (ARITH & ~AF & ~OF);
  }
  return ARITH;
}

/* ---------------------------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  char *text;
  char *hex;
} bytes_entry;
static bytes_entry *bytes_map;
static int nbytes_map;
static int first_case = 1;
static long total_cases;

static const char *bytes_for(const char *text) {
  for (int i = 0; i < nbytes_map; i++)
    if (strcmp(bytes_map[i].text, text) == 0) return bytes_map[i].hex;
  fprintf(stderr, "gen-alu: no instruction bytes for \"%s\"\n", text);
  exit(1);
}

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t in_insn;
static void on_sigfpe(int sig) {
  (void)sig;
  if (in_insn) siglongjmp(fault_jmp, 1);
  abort();
}

static void run_and_print(insn_t *I, regs_t in, int mask) {
  regs_t out = in;
  if (sigsetjmp(fault_jmp, 1)) {
    in_insn = 0;
    I->nfaulted++;
    fprintf(stderr, "gen-alu: unexpected #DE: %s eax=%08x ecx=%08x edx=%08x (skipped)\n", I->text, in.eax, in.ecx,
            in.edx);
    return;
  }
  in_insn = 1;
  I->fn(&out);
  in_insn = 0;
  printf("%s\n{\"insn\":\"%s\",\"size\":%d,\"bytes\":\"%s\","
         "\"in\":{\"eax\":%u,\"ecx\":%u,\"edx\":%u,\"eflags\":%u},"
         "\"out\":{\"eax\":%u,\"ecx\":%u,\"edx\":%u,\"eflags\":%u},\"definedMask\":%d}",
         first_case ? "" : ",", I->text, I->size, bytes_for(I->text), in.eax, in.ecx, in.edx, in.fl, out.eax,
         out.ecx, out.edx, out.fl, mask);
  first_case = 0;
  I->ncases++;
  total_cases++;
}

enum policy { EDGE, RANDOM, FIXED };

/* Record one input. EDGE: both all-clear and all-set flags if the instruction is 'dual', else random
 * flags. RANDOM: random flags. FIXED: the flags in in.fl. */
static void emit(insn_t *I, regs_t in, enum policy p) {
  int mask = defined_mask(I, &in);
  if (mask < 0) {
    I->nskipped++;
    return;
  }
  if (p == EDGE && I->dual) {
    in.fl = 0;
    run_and_print(I, in, mask);
    in.fl = ARITH;
    run_and_print(I, in, mask);
    return;
  }
  if (p != FIXED) in.fl = rnd() & ARITH;
  run_and_print(I, in, mask);
}

static regs_t garbage(void) {
  regs_t r = {rnd(), rnd(), rnd(), 0};
  return r;
}

/* ---------------------------------------------------------------------------------------------
 * Generators
 * ------------------------------------------------------------------------------------------- */
#define NRANDOM 40

static void gen_bin(insn_t *I) {
  int n;
  const uint32_t *e = edges(I->size, &n);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      regs_t r = garbage();
      r.eax = put(I->size, e[i]);
      r.ecx = put(I->size, e[j]);
      emit(I, r, EDGE);
    }
  for (int k = 0; k < NRANDOM; k++) {
    regs_t r = garbage();
    r.eax = put(I->size, rnd_operand(I->size));
    r.ecx = put(I->size, rnd_operand(I->size));
    emit(I, r, RANDOM);
  }
}

static void gen_un(insn_t *I) {
  int n;
  const uint32_t *e = edges(I->size, &n);
  for (int i = 0; i < n; i++) {
    regs_t r = garbage();
    r.eax = put(I->size, e[i]);
    emit(I, r, EDGE);
  }
  for (int k = 0; k < NRANDOM; k++) {
    regs_t r = garbage();
    r.eax = put(I->size, rnd_operand(I->size));
    emit(I, r, RANDOM);
  }
}

static void gen_shift(insn_t *I) {
  uint32_t vals[8];
  int nv = shift_values(I->size, vals);
  if (I->param < 0) { /* by CL */
    for (int i = 0; i < nv; i++)
      for (int j = 0; j < NSHIFT_COUNTS; j++) {
        regs_t r = garbage();
        r.eax = put(I->size, vals[i]);
        r.ecx = put(8, SHIFT_COUNTS[j]);
        emit(I, r, EDGE);
      }
    for (int k = 0; k < 32; k++) {
      regs_t r = garbage();
      r.eax = put(I->size, rnd_operand(I->size));
      r.ecx = put(8, (rnd() & 3) ? rnd() % 40 : rnd() & 0xFF);
      emit(I, r, RANDOM);
    }
  } else { /* by 1 or by immediate */
    for (int i = 0; i < nv; i++) {
      regs_t r = garbage();
      r.eax = put(I->size, vals[i]);
      emit(I, r, EDGE);
    }
    for (int k = 0; k < (I->param == 1 ? 16 : 6); k++) {
      regs_t r = garbage();
      r.eax = put(I->size, rnd_operand(I->size));
      emit(I, r, RANDOM);
    }
  }
}

static void gen_shxd(insn_t *I) {
  uint32_t m = wmask(I->size), s = sign_bit(I->size);
  const uint32_t pairs[][2] = {{0x12345678u & m, 0x9ABCDEF0u & m}, {m, 0}, {0, m}, {s, 1}};
  for (int i = 0; i < 4; i++) {
    if (I->param < 0) {
      for (int j = 0; j < NSHIFT_COUNTS; j++) {
        regs_t r = garbage();
        r.eax = put(I->size, pairs[i][0]);
        r.edx = put(I->size, pairs[i][1]);
        r.ecx = put(8, SHIFT_COUNTS[j]);
        emit(I, r, EDGE);
      }
    } else {
      regs_t r = garbage();
      r.eax = put(I->size, pairs[i][0]);
      r.edx = put(I->size, pairs[i][1]);
      emit(I, r, EDGE);
    }
  }
  int nr = I->param < 0 ? 32 : 8;
  for (int k = 0; k < nr; k++) {
    regs_t r = garbage();
    r.eax = put(I->size, rnd_operand(I->size));
    r.edx = put(I->size, rnd_operand(I->size));
    if (I->param < 0) r.ecx = put(8, (rnd() & 3) ? rnd() % 40 : rnd() & 0xFF);
    emit(I, r, RANDOM);
  }
}

static void gen_imul3(insn_t *I) {
  int n;
  const uint32_t *e = edges(I->size, &n);
  for (int i = 0; i < n; i++) {
    regs_t r = garbage();
    r.ecx = put(I->size, e[i]);
    emit(I, r, EDGE);
  }
  for (int k = 0; k < 24; k++) {
    regs_t r = garbage();
    r.ecx = put(I->size, rnd_operand(I->size));
    emit(I, r, RANDOM);
  }
}

/* DIV/IDIV: dividend is AX (8-bit), DX:AX (16), EDX:EAX (32); divisor CL/CX/ECX. */
static void set_div_regs(insn_t *I, regs_t *r, uint64_t dividend, uint32_t divisor) {
  int s = I->size;
  uint32_t m = wmask(s);
  uint32_t lo = (uint32_t)dividend & m, hi = (uint32_t)(dividend >> s) & m;
  if (s == 8) {
    r->eax = (r->eax & 0xFFFF0000u) | (hi << 8) | lo;
  } else {
    r->eax = put(s, lo);
    r->edx = put(s, hi);
  }
  r->ecx = put(s, divisor);
}

/* Would the division fault (#DE)?  Mirrors the SDM pseudo-code. */
static int div_faults(int size, int sgn, uint64_t dividend, uint32_t divisor) {
  uint32_t m = wmask(size);
  divisor &= m;
  if (divisor == 0) return 1;
  if (!sgn) {
    uint64_t q = dividend / divisor;
    return q > m;
  }
  int sh = 64 - 2 * size;
  __int128 a = (__int128)(((int64_t)(dividend << sh)) >> sh);
  __int128 b = (__int128)(((int32_t)(divisor << (32 - size))) >> (32 - size));
  __int128 q = a / b; /* truncates toward zero, like IDIV */
  __int128 lim = (__int128)1 << (size - 1);
  return q >= lim || q < -lim;
}

static uint32_t rnd_bits(int maxbits) { /* random value with a random bit length 1..maxbits */
  int b = 1 + (int)(rnd() % (uint32_t)maxbits);
  uint32_t v = rnd() & (b == 32 ? 0xFFFFFFFFu : (1u << b) - 1);
  return v | (1u << (b - 1));
}

static void gen_div(insn_t *I) {
  int s = I->size, sgn = I->param;
  uint32_t m = wmask(s), sb = sign_bit(s);
  uint64_t dm = s == 32 ? ~0ull : (1ull << (2 * s)) - 1; /* dividend mask */
  if (!sgn) {
    const uint32_t divisors[] = {1, 2, 3, 7, sb - 1, sb, m - 1, m};
    for (int i = 0; i < 8; i++) {
      uint32_t d = divisors[i];
      const uint32_t his[] = {0, d - 1};
      const uint32_t los[] = {0, 1, sb, m};
      for (int h = 0; h < (d == 1 ? 1 : 2); h++)
        for (int l = 0; l < 4; l++) {
          uint64_t dividend = ((uint64_t)his[h] << s) | los[l];
          if (div_faults(s, 0, dividend, d)) continue;
          regs_t r = garbage();
          set_div_regs(I, &r, dividend, d);
          emit(I, r, EDGE);
        }
    }
    for (int k = 0; k < NRANDOM; k++) {
      uint32_t d = rnd_bits(s);
      uint64_t dividend = ((uint64_t)(rnd() % d) << s) | (rnd() & m);
      regs_t r = garbage();
      set_div_regs(I, &r, dividend, d);
      emit(I, r, RANDOM);
    }
  } else {
    const int64_t smax = (int64_t)sb - 1, smin = -(int64_t)sb;
    const int64_t dmax = (int64_t)(dm >> 1), dmin = -dmax - 1;
    const int64_t divisors[] = {1, -1, 2, -2, 3, -3, 7, smax, smin, -smax};
    const int64_t dividends[] = {0, 1, -1, 7, -7, 100, -100, smax, smin, smax + 1, smin - 1, 2 * smax, 2 * smin,
                                 smax * smax, smin * smax, dmax, dmin};
    for (int i = 0; i < 10; i++)
      for (int j = 0; j < 17; j++) {
        uint64_t dividend = (uint64_t)dividends[j] & dm;
        uint32_t d = (uint32_t)divisors[i] & m;
        if (div_faults(s, 1, dividend, d)) continue;
        regs_t r = garbage();
        set_div_regs(I, &r, dividend, d);
        emit(I, r, EDGE);
      }
    for (int k = 0; k < NRANDOM;) {
      int64_t d = (int64_t)rnd_bits(s - 1), q = (int64_t)rnd_bits(s - 1), rem;
      if (rnd() & 1) d = -d;
      if (rnd() & 1) q = -q;
      if ((rnd() & 7) == 0) q = (rnd() & 1) ? smax : smin;
      if ((rnd() & 7) == 0) q = 0;
      rem = (int64_t)(rnd() % (uint32_t)(d < 0 ? -d : d));
      if (q * d < 0 || (q == 0 && (rnd() & 1))) rem = -rem;
      int64_t dividend = q * d + rem;
      if (div_faults(s, 1, (uint64_t)dividend & dm, (uint32_t)d & m)) continue;
      regs_t r = garbage();
      set_div_regs(I, &r, (uint64_t)dividend & dm, (uint32_t)d & m);
      emit(I, r, RANDOM);
      k++;
    }
  }
}

static void gen_conv(insn_t *I) {
  int n;
  const uint32_t *e = edges(I->param, &n);
  for (int i = 0; i < n; i++) {
    regs_t r = garbage();
    r.eax = put(I->param, e[i]);
    emit(I, r, EDGE);
  }
  for (int k = 0; k < 16; k++) {
    regs_t r = garbage();
    r.eax = put(I->param, rnd_operand(I->param));
    emit(I, r, RANDOM);
  }
}

static void gen_movx(insn_t *I) {
  int n;
  const uint32_t *e = edges(I->param, &n);
  for (int i = 0; i < n; i++) {
    regs_t r = garbage();
    r.ecx = put(I->param, e[i]);
    emit(I, r, EDGE);
  }
  for (int k = 0; k < 16; k++) {
    regs_t r = garbage();
    r.ecx = put(I->param, rnd_operand(I->param));
    emit(I, r, RANDOM);
  }
}

static void gen_bswap(insn_t *I) {
  const uint32_t vals[] = {0, 1, 0x80, 0xFF, 0x12345678, 0x80000000, 0xFFFFFFFF, 0x00FF00FF};
  for (int i = 0; i < 8; i++) {
    regs_t r = garbage();
    r.eax = vals[i];
    emit(I, r, EDGE);
  }
  for (int k = 0; k < 16; k++) {
    regs_t r = garbage();
    emit(I, r, RANDOM);
  }
}

static uint32_t flags_from_bits(unsigned b) { /* bit i of b -> i-th of CF PF AF ZF SF OF */
  static const uint32_t f[] = {CF, PF, AF, ZF, SF, OF};
  uint32_t v = 0;
  for (int i = 0; i < 6; i++)
    if (b & (1u << i)) v |= f[i];
  return v;
}

static void gen_setcc(insn_t *I) {
  for (unsigned b = 0; b < 64; b++) {
    regs_t r = garbage();
    r.fl = flags_from_bits(b);
    emit(I, r, FIXED);
  }
}

static void gen_cmov(insn_t *I) {
  static const uint32_t f[] = {CF, PF, ZF, SF, OF};
  for (unsigned b = 0; b < 32; b++) {
    regs_t r = garbage();
    r.fl = (rnd() & 1) ? AF : 0;
    for (int i = 0; i < 5; i++)
      if (b & (1u << i)) r.fl |= f[i];
    emit(I, r, FIXED);
  }
}

static void gen_bt(insn_t *I) {
  uint32_t m = wmask(I->size);
  const uint32_t vals[] = {0, m, 0xA5A5A5A5u & m, 0x5A5A5A5Au & m};
  if (I->param < 0) {
    const uint32_t offs[] = {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 0xFFFFFFFFu, 0x80000007u};
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 12; j++) {
        regs_t r = garbage();
        r.eax = put(I->size, vals[i]);
        r.ecx = I->size == 32 ? offs[j] : put(16, offs[j]);
        emit(I, r, EDGE);
      }
    for (int k = 0; k < 16; k++) {
      regs_t r = garbage();
      r.eax = put(I->size, rnd_operand(I->size));
      emit(I, r, RANDOM);
    }
  } else {
    for (int i = 0; i < 4; i++) {
      regs_t r = garbage();
      r.eax = put(I->size, vals[i]);
      emit(I, r, EDGE);
    }
    for (int k = 0; k < 8; k++) {
      regs_t r = garbage();
      r.eax = put(I->size, rnd_operand(I->size));
      emit(I, r, RANDOM);
    }
  }
}

static void generate(insn_t *I) {
  seed_for(I->text);
  switch (I->gen) {
    case G_BIN: gen_bin(I); break;
    case G_UN: gen_un(I); break;
    case G_SHIFT: gen_shift(I); break;
    case G_IMUL3: gen_imul3(I); break;
    case G_DIV: gen_div(I); break;
    case G_CONV: gen_conv(I); break;
    case G_MOVX: gen_movx(I); break;
    case G_BSWAP: gen_bswap(I); break;
    case G_SETCC: gen_setcc(I); break;
    case G_CMOV: gen_cmov(I); break;
    case G_BT: gen_bt(I); break;
    case G_SHXD: gen_shxd(I); break;
  }
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */
static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') putchar('\\');
    if ((unsigned char)*s >= 0x20) putchar(*s);
  }
  putchar('"');
}

static void cpuinfo_field(const char *key, char *out, size_t outsz) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  snprintf(out, outsz, "unknown");
  if (!f) return;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, kl) == 0 && (line[kl] == ' ' || line[kl] == '\t' || line[kl] == ':')) {
      char *p = strchr(line, ':');
      if (!p) continue;
      p++;
      while (*p == ' ') p++;
      p[strcspn(p, "\n")] = 0;
      snprintf(out, outsz, "%s", p);
      break;
    }
  }
  fclose(f);
}

static void load_bytes(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(1);
  }
  char line[512];
  bytes_map = calloc((size_t)NINSNS, sizeof *bytes_map);
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *tab = strchr(line, '\t');
    if (!tab || nbytes_map >= NINSNS) continue;
    *tab = 0;
    bytes_map[nbytes_map].text = strdup(line);
    bytes_map[nbytes_map].hex = strdup(tab + 1);
    nbytes_map++;
  }
  fclose(f);
}

int main(int argc, char **argv) {
  const char *bytes_path = NULL, *generated_by = "packages/cpu/test/diff/gen-alu.sh";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--list") == 0) {
      for (int k = 0; k < NINSNS; k++) puts(TABLE[k].text);
      return 0;
    } else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc) {
      bytes_path = argv[++i];
    } else if (strcmp(argv[i], "--generated-by") == 0 && i + 1 < argc) {
      generated_by = argv[++i];
    } else {
      fprintf(stderr, "usage: %s --list | --bytes FILE [--generated-by TEXT]\n", argv[0]);
      return 2;
    }
  }
  if (!bytes_path) {
    fprintf(stderr, "gen-alu: --bytes FILE is required\n");
    return 2;
  }
  load_bytes(bytes_path);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigfpe;
  sigaction(SIGFPE, &sa, NULL);

  char model[256], family[32], modelno[32], stepping[32], vendor[64];
  cpuinfo_field("model name", model, sizeof model);
  cpuinfo_field("cpu family", family, sizeof family);
  cpuinfo_field("model", modelno, sizeof modelno);
  cpuinfo_field("stepping", stepping, sizeof stepping);
  cpuinfo_field("vendor_id", vendor, sizeof vendor);
  char sig[256];
  snprintf(sig, sizeof sig, "%s family %s model %s stepping %s", vendor, family, modelno, stepping);

  printf("{\"generatedBy\":");
  json_string(generated_by);
  printf(",\n\"cpu\":");
  json_string(model);
  printf(",\n\"cpuSignature\":");
  json_string(sig);
  printf(",\n\"flagBits\":{\"CF\":1,\"PF\":4,\"AF\":16,\"ZF\":64,\"SF\":128,\"OF\":2048},");
  printf("\n\"seed\":%u,\n\"cases\":[", BASE_SEED);
  for (int k = 0; k < NINSNS; k++) generate(&TABLE[k]);
  printf("\n]}\n");

  int faults = 0;
  for (int k = 0; k < NINSNS; k++) {
    fprintf(stderr, "%-26s %5d cases", TABLE[k].text, TABLE[k].ncases);
    if (TABLE[k].nskipped) fprintf(stderr, "  (%d undefined-result inputs skipped)", TABLE[k].nskipped);
    if (TABLE[k].nfaulted) fprintf(stderr, "  (%d FAULTED)", TABLE[k].nfaulted);
    fputc('\n', stderr);
    faults += TABLE[k].nfaulted;
  }
  fprintf(stderr, "total: %ld cases over %d instruction forms\n", total_cases, NINSNS);
  return faults ? 3 : 0;
}
