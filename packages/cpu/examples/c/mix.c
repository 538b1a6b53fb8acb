/*
 * mix.c - a grab bag meant to make gcc emit a wide range of IA-32 code:
 * dense switches (jump tables), sparse switches, function-pointer tables,
 * structs passed and returned by value (hidden pointer, `ret 4`), bitfields,
 * unions, signed/unsigned division and modulo by variables and constants
 * (idiv/div/cdq and multiply-by-reciprocal), shifts and rotates, char/short
 * arithmetic (movsx/movzx), setcc, 64-bit add/sub/mul/shift/compare
 * (adc/sbb/mul/shld/shrd), bit scans, recursion, a recursive-descent
 * expression parser and a bignum in 16-bit limbs.
 *
 * Inputs pass through opaque() or volatile tables so that gcc -O2 cannot
 * constant-fold the interesting operations away. Every section prints what
 * it computed and checks known answers. Returns 0 when all checks pass.
 */
#include "lib.h"

#define NOINLINE __attribute__((noinline, noclone))

/* Hide a value from the optimizer (an empty asm that "might change" it). */
static inline int32_t opaque(int32_t x)
{
    __asm__ volatile("" : "+r"(x));
    return x;
}

static inline uint32_t opaqueu(uint32_t x)
{
    __asm__ volatile("" : "+r"(x));
    return x;
}

/* Running hash of everything the program computes: printed at the end. */
static uint32_t g_hash = 0x811C9DC5u;

static void mix_in(uint32_t v)
{
    int32_t i;
    for (i = 0; i < 4; i++) {
        g_hash ^= v & 0xFF;
        g_hash *= 0x01000193u;
        v >>= 8;
    }
}

/* ========================================================================
 * 1. A tiny stack-machine interpreter: a dense switch -> jump table,
 *    with a mini assembler that patches forward jumps.
 * ===================================================================== */

enum op {
    OP_HALT, OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_MUL, OP_DIV,
    OP_MOD, OP_DUP, OP_SWAP, OP_DROP, OP_JZ, OP_JMP, OP_LT, OP_NEG,
    OP_AND, OP_OR, OP_XOR, OP_SHL, OP_SHR, OP_EMIT, OP_COUNT
};

static int32_t vm_run(const int32_t *code, int32_t *out, int32_t max_out, uint32_t *steps)
{
    int32_t stack[32];
    int32_t locals[8];
    int32_t sp = 0, pc = 0, nout = 0;
    int32_t a, b;

    memset(locals, 0, sizeof(locals));
    *steps = 0;
    for (;;) {
        int32_t op = code[pc++];
        (*steps)++;
        switch (op) {
        case OP_HALT:
            return nout;
        case OP_PUSH:
            stack[sp++] = code[pc++];
            break;
        case OP_LOAD:
            stack[sp++] = locals[code[pc++] & 7];
            break;
        case OP_STORE:
            locals[code[pc++] & 7] = stack[--sp];
            break;
        case OP_ADD:
            b = stack[--sp];
            stack[sp - 1] = (int32_t)((uint32_t)stack[sp - 1] + (uint32_t)b);
            break;
        case OP_SUB:
            b = stack[--sp];
            stack[sp - 1] = (int32_t)((uint32_t)stack[sp - 1] - (uint32_t)b);
            break;
        case OP_MUL:
            b = stack[--sp];
            stack[sp - 1] = (int32_t)((uint32_t)stack[sp - 1] * (uint32_t)b);
            break;
        case OP_DIV:
            b = stack[--sp];
            stack[sp - 1] = stack[sp - 1] / b;
            break;
        case OP_MOD:
            b = stack[--sp];
            stack[sp - 1] = stack[sp - 1] % b;
            break;
        case OP_DUP:
            stack[sp] = stack[sp - 1];
            sp++;
            break;
        case OP_SWAP:
            a = stack[sp - 1];
            stack[sp - 1] = stack[sp - 2];
            stack[sp - 2] = a;
            break;
        case OP_DROP:
            sp--;
            break;
        case OP_JZ:
            a = stack[--sp];
            pc = (a == 0) ? code[pc] : pc + 1;
            break;
        case OP_JMP:
            pc = code[pc];
            break;
        case OP_LT:
            b = stack[--sp];
            stack[sp - 1] = stack[sp - 1] < b;
            break;
        case OP_NEG:
            stack[sp - 1] = (int32_t)(0u - (uint32_t)stack[sp - 1]);
            break;
        case OP_AND:
            b = stack[--sp];
            stack[sp - 1] &= b;
            break;
        case OP_OR:
            b = stack[--sp];
            stack[sp - 1] |= b;
            break;
        case OP_XOR:
            b = stack[--sp];
            stack[sp - 1] ^= b;
            break;
        case OP_SHL:
            b = stack[--sp];
            stack[sp - 1] = (int32_t)((uint32_t)stack[sp - 1] << (b & 31));
            break;
        case OP_SHR:
            b = stack[--sp];
            stack[sp - 1] = (int32_t)((uint32_t)stack[sp - 1] >> (b & 31));
            break;
        case OP_EMIT:
            a = stack[--sp];
            if (nout < max_out)
                out[nout++] = a;
            break;
        default:
            kprintf("vm: bad opcode %d at %d\n", op, pc - 1);
            return -1;
        }
    }
}

static int32_t asm_code[160];
static int32_t asm_pc;

static void e1(int32_t op) { asm_code[asm_pc++] = op; }
static void e2(int32_t op, int32_t arg)
{
    asm_code[asm_pc++] = op;
    asm_code[asm_pc++] = arg;
}
/* Emit a jump with an unknown target; returns the operand slot to patch. */
static int32_t e_jump(int32_t op)
{
    asm_code[asm_pc++] = op;
    asm_code[asm_pc++] = -1;
    return asm_pc - 1;
}
static void patch(int32_t slot, int32_t target) { asm_code[slot] = target; }

static void section_vm(void)
{
    static const int32_t expect[] = {0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 21, 30, -142857, 1077, 1, 338350};
    int32_t out[24];
    int32_t n, i, top, exit_slot;
    uint32_t steps;
    int ok;

    asm_pc = 0;
    /* fib: a=0 b=1 n=12; while (n) { emit a; t=a+b; a=b; b=t; n-- } */
    e2(OP_PUSH, 0), e2(OP_STORE, 0);
    e2(OP_PUSH, 1), e2(OP_STORE, 1);
    e2(OP_PUSH, 12), e2(OP_STORE, 2);
    top = asm_pc;
    e2(OP_LOAD, 2);
    exit_slot = e_jump(OP_JZ);
    e2(OP_LOAD, 0), e1(OP_EMIT);
    e2(OP_LOAD, 0), e2(OP_LOAD, 1), e1(OP_ADD);
    e2(OP_LOAD, 1), e2(OP_STORE, 0);
    e2(OP_STORE, 1);
    e2(OP_LOAD, 2), e2(OP_PUSH, 1), e1(OP_SUB), e2(OP_STORE, 2);
    e2(OP_JMP, top);
    patch(exit_slot, asm_pc);
    /* gcd(1071, 462): while (b) { t = a % b; a = b; b = t } emit a */
    e2(OP_PUSH, 1071), e2(OP_STORE, 0);
    e2(OP_PUSH, 462), e2(OP_STORE, 1);
    top = asm_pc;
    e2(OP_LOAD, 1);
    exit_slot = e_jump(OP_JZ);
    e2(OP_LOAD, 0), e2(OP_LOAD, 1), e1(OP_MOD);
    e2(OP_LOAD, 1), e2(OP_STORE, 0), e2(OP_STORE, 1);
    e2(OP_JMP, top);
    patch(exit_slot, asm_pc);
    e2(OP_LOAD, 0), e1(OP_EMIT);
    /* 1000003 % 97, -1000003 / 7 */
    e2(OP_PUSH, 1000003), e2(OP_PUSH, 97), e1(OP_MOD), e1(OP_EMIT);
    e2(OP_PUSH, 1000003), e1(OP_NEG), e2(OP_PUSH, 7), e1(OP_DIV), e1(OP_EMIT);
    /* (((0x1234 << 4) & 0xFF0F) >> 3) ^ 0x55 */
    e2(OP_PUSH, 0x1234), e2(OP_PUSH, 4), e1(OP_SHL), e2(OP_PUSH, 0xFF0F), e1(OP_AND);
    e2(OP_PUSH, 3), e1(OP_SHR), e2(OP_PUSH, 0x55), e1(OP_XOR), e1(OP_EMIT);
    /* (5 < 9) | (9 < 5) */
    e2(OP_PUSH, 5), e2(OP_PUSH, 9), e1(OP_LT), e2(OP_PUSH, 9), e2(OP_PUSH, 5), e1(OP_LT), e1(OP_OR), e1(OP_EMIT);
    /* sum of i*i for i = 100 down to 1 (DUP/SWAP/DROP on the stack) */
    e2(OP_PUSH, 0), e2(OP_STORE, 3);
    e2(OP_PUSH, 100);
    top = asm_pc;
    e1(OP_DUP);
    exit_slot = e_jump(OP_JZ);
    e1(OP_DUP), e1(OP_DUP), e1(OP_MUL), e2(OP_LOAD, 3), e1(OP_ADD), e2(OP_STORE, 3);
    e2(OP_PUSH, -1), e1(OP_ADD);
    e2(OP_JMP, top);
    patch(exit_slot, asm_pc);
    e1(OP_DROP), e2(OP_LOAD, 3), e1(OP_EMIT);
    e2(OP_PUSH, 7), e2(OP_PUSH, 8), e1(OP_SWAP), e1(OP_SUB), e1(OP_DROP); /* 8-7, discarded */
    e1(OP_HALT);

    n = vm_run(asm_code, out, ARRAY_LEN(out), &steps);
    kprintf("vm: %d words of code, %d outputs in %u steps:\n   ", asm_pc, n, steps);
    ok = n == ARRAY_LEN(expect);
    for (i = 0; i < n; i++) {
        kprintf(" %d", out[i]);
        mix_in((uint32_t)out[i]);
        if (i < ARRAY_LEN(expect) && out[i] != expect[i])
            ok = 0;
    }
    kprintf("\n");
    check(ok, "vm program outputs");
}

/* ========================================================================
 * 2. A table of function pointers over 32-bit operations.
 * ===================================================================== */

typedef uint32_t (*binop_fn)(uint32_t a, uint32_t b);

NOINLINE uint32_t op_add(uint32_t a, uint32_t b) { return a + b; }
NOINLINE uint32_t op_sub(uint32_t a, uint32_t b) { return a - b; }
NOINLINE uint32_t op_mul(uint32_t a, uint32_t b) { return a * b; }
NOINLINE uint32_t op_udiv(uint32_t a, uint32_t b) { return b ? a / b : 0xFFFFFFFFu; }
NOINLINE uint32_t op_umod(uint32_t a, uint32_t b) { return b ? a % b : a; }
NOINLINE uint32_t op_sdiv(uint32_t a, uint32_t b)
{
    int32_t x = (int32_t)a, y = (int32_t)b;
    if (y == 0 || (x == VMX_INT32_MIN && y == -1))
        return 0x7FFFFFFFu; /* would trap (#DE): avoid */
    return (uint32_t)(x / y);
}
NOINLINE uint32_t op_smod(uint32_t a, uint32_t b)
{
    int32_t x = (int32_t)a, y = (int32_t)b;
    if (y == 0 || (x == VMX_INT32_MIN && y == -1))
        return 0;
    return (uint32_t)(x % y);
}
NOINLINE uint32_t op_shl(uint32_t a, uint32_t b) { return a << (b & 31); }
NOINLINE uint32_t op_shr(uint32_t a, uint32_t b) { return a >> (b & 31); }
NOINLINE uint32_t op_sar(uint32_t a, uint32_t b) { return (uint32_t)((int32_t)a >> (b & 31)); }
NOINLINE uint32_t op_rol(uint32_t a, uint32_t b) { return (a << (b & 31)) | (a >> ((32 - b) & 31)); }
NOINLINE uint32_t op_ror(uint32_t a, uint32_t b) { return (a >> (b & 31)) | (a << ((32 - b) & 31)); }
NOINLINE uint32_t op_andn(uint32_t a, uint32_t b) { return a & ~b; }
NOINLINE uint32_t op_xnor(uint32_t a, uint32_t b) { return ~(a ^ b); }
NOINLINE uint32_t op_smin(uint32_t a, uint32_t b) { return (int32_t)a < (int32_t)b ? a : b; }
NOINLINE uint32_t op_umax(uint32_t a, uint32_t b) { return a > b ? a : b; }
NOINLINE uint32_t op_mulhu(uint32_t a, uint32_t b) { return (uint32_t)(((uint64_t)a * b) >> 32); }
NOINLINE uint32_t op_mulhs(uint32_t a, uint32_t b)
{
    return (uint32_t)((uint64_t)((int64_t)(int32_t)a * (int32_t)b) >> 32);
}
NOINLINE uint32_t op_avg(uint32_t a, uint32_t b) { return (a & b) + ((a ^ b) >> 1); }

static const struct {
    const char *name;
    binop_fn fn;
} binops[] = {
    {"add", op_add},   {"sub", op_sub},   {"mul", op_mul},     {"udiv", op_udiv},   {"umod", op_umod},
    {"sdiv", op_sdiv}, {"smod", op_smod}, {"shl", op_shl},     {"shr", op_shr},     {"sar", op_sar},
    {"rol", op_rol},   {"ror", op_ror},   {"andn", op_andn},   {"xnor", op_xnor},   {"smin", op_smin},
    {"umax", op_umax}, {"mulhu", op_mulhu}, {"mulhs", op_mulhs}, {"avg", op_avg},
};

static volatile uint32_t pairs[][2] = {
    {0, 1}, {1, 0}, {7, 3}, {0xFFFFFFFFu, 2}, {0x80000000u, 0xFFFFFFFFu},
    {(uint32_t)-17, 5}, {12345678u, 4321u}, {0xDEADBEEFu, 13}, {5, 33},
};

static void section_binops(void)
{
    int32_t i, j;
    kprintf("binops over %d pairs (a,b):", ARRAY_LEN(pairs));
    for (j = 0; j < ARRAY_LEN(pairs); j++)
        kprintf(" (%x,%x)", pairs[j][0], pairs[j][1]);
    kprintf("\n");
    for (i = 0; i < ARRAY_LEN(binops); i++) {
        binop_fn fn = binops[i].fn;
        kprintf("  %-5s", binops[i].name);
        for (j = 0; j < ARRAY_LEN(pairs); j++) {
            uint32_t r = fn(pairs[j][0], pairs[j][1]);
            kprintf(" %08x", r);
            mix_in(r);
        }
        kprintf("\n");
    }
    check(op_sdiv((uint32_t)-17, 5) == (uint32_t)-3 && op_smod((uint32_t)-17, 5) == (uint32_t)-2, "-17/5, -17%5");
    check(op_mulhu(0xFFFFFFFFu, 0xFFFFFFFFu) == 0xFFFFFFFEu, "mulhu");
    check(op_mulhs(0xFFFFFFFFu, 0xFFFFFFFFu) == 0, "mulhs(-1,-1)");
    check(op_rol(0x80000001u, 1) == 3 && op_ror(3, 1) == 0x80000001u, "rotates");
    check(op_sar(0x80000000u, 31) == 0xFFFFFFFFu && op_shr(0x80000000u, 31) == 1, "sar vs shr");
}

/* ========================================================================
 * 3. Division and modulo: by variables (idiv/div) and by constants.
 * ===================================================================== */

NOINLINE int32_t sdiv3(int32_t a) { return a / 3; }
NOINLINE int32_t smod3(int32_t a) { return a % 3; }
NOINLINE int32_t sdiv10(int32_t a) { return a / 10; }
NOINLINE int32_t smod10(int32_t a) { return a % 10; }
NOINLINE int32_t sdiv16(int32_t a) { return a / 16; }
NOINLINE int32_t smod16(int32_t a) { return a % 16; }
NOINLINE int32_t sdivm4(int32_t a) { return a / -4; }
NOINLINE uint32_t udiv7(uint32_t a) { return a / 7; }
NOINLINE uint32_t umod10(uint32_t a) { return a % 10; }
NOINLINE uint32_t udiv1000(uint32_t a) { return a / 1000; }

static void section_division(void)
{
    static const int32_t as[] = {-2147483647 - 1, -1000001, -17, -7, -1, 0, 1, 7, 17, 999999, 2147483647};
    static const int32_t bs[] = {-7, -2, -1, 1, 2, 3, 10};
    int32_t i, j;
    int ok = 1;

    kprintf("signed a / b and a %% b (C truncates toward zero):\n");
    for (i = 0; i < ARRAY_LEN(as); i++) {
        int32_t a = opaque(as[i]);
        kprintf("  %11d:", a);
        for (j = 0; j < ARRAY_LEN(bs); j++) {
            int32_t b = opaque(bs[j]);
            int32_t q, r;
            if (a == VMX_INT32_MIN && b == -1) {
                kprintf(" %15s", "(trap)");
                continue;
            }
            q = a / b;
            r = a % b;
            kprintf(" %+d,%+d", q, r);
            mix_in((uint32_t)q ^ ((uint32_t)r << 7));
            if ((int32_t)((uint32_t)q * (uint32_t)b + (uint32_t)r) != a)
                ok = 0;
            if (r != 0 && ((r < 0) != (a < 0)))
                ok = 0;
        }
        kprintf("\n");
    }
    kprintf("unsigned a / b and a %% b:\n");
    for (i = 0; i < ARRAY_LEN(as); i++) {
        uint32_t a = opaqueu((uint32_t)as[i]);
        kprintf("  %10u:", a);
        for (j = 0; j < ARRAY_LEN(bs); j++) {
            uint32_t b = opaqueu((uint32_t)bs[j]);
            uint32_t q = a / b, r = a % b;
            kprintf(" %u,%u", q, r);
            mix_in(q + r);
            if (q * b + r != a || r >= b)
                ok = 0;
        }
        kprintf("\n");
    }
    check(ok, "q*b + r == a and sign(r) == sign(a)");

    kprintf("by constants:\n");
    for (i = 0; i < ARRAY_LEN(as); i++) {
        int32_t a = opaque(as[i]);
        uint32_t u = (uint32_t)a;
        kprintf("  %11d: /3=%d %%3=%d /10=%d %%10=%d /16=%d %%16=%d /-4=%d u/7=%u u%%10=%u u/1000=%u\n", a, sdiv3(a),
                smod3(a), sdiv10(a), smod10(a), sdiv16(a), smod16(a), sdivm4(a), udiv7(u), umod10(u), udiv1000(u));
        if (sdiv3(a) != a / opaque(3) || smod3(a) != a % opaque(3) || sdiv10(a) != a / opaque(10) ||
            smod10(a) != a % opaque(10) || sdiv16(a) != a / opaque(16) || smod16(a) != a % opaque(16) ||
            sdivm4(a) != a / opaque(-4) || udiv7(u) != u / opaqueu(7) || umod10(u) != u % opaqueu(10) ||
            udiv1000(u) != u / opaqueu(1000))
            ok = 0;
        mix_in((uint32_t)sdiv3(a) + (uint32_t)smod10(a) + udiv7(u));
    }
    check(ok, "division by constants matches division by variables");
    check(sdiv16(-17) == -1 && smod16(-17) == -1 && sdivm4(-17) == 4 && sdiv3(-7) == -2, "constant division values");
}

/* ========================================================================
 * 4. Structs by value, bitfields, unions.
 * ===================================================================== */

struct vec3 {
    int32_t x, y, z;
};

NOINLINE struct vec3 vec_add(struct vec3 a, struct vec3 b)
{
    struct vec3 r;
    r.x = a.x + b.x;
    r.y = a.y + b.y;
    r.z = a.z + b.z;
    return r;
}

NOINLINE struct vec3 vec_cross(struct vec3 a, struct vec3 b)
{
    struct vec3 r;
    r.x = a.y * b.z - a.z * b.y;
    r.y = a.z * b.x - a.x * b.z;
    r.z = a.x * b.y - a.y * b.x;
    return r;
}

NOINLINE int32_t vec_dot(const struct vec3 *a, const struct vec3 *b) { return a->x * b->x + a->y * b->y + a->z * b->z; }

struct small {
    int16_t s;
    uint8_t u;
    int8_t c;
};

NOINLINE struct small small_make(int32_t v)
{
    struct small r;
    r.s = (int16_t)v;
    r.u = (uint8_t)(v >> 3);
    r.c = (int8_t)(v >> 5);
    return r;
}

NOINLINE int32_t small_sum(struct small a) { return a.s + a.u + a.c; }

struct record {
    char name[12];
    int32_t values[6];
    struct vec3 pos;
};

NOINLINE struct record record_shift(struct record r, int32_t d)
{
    int32_t i;
    for (i = 0; i < 6; i++)
        r.values[i] += d * i;
    r.pos.x -= d;
    r.name[0] = (char)(r.name[0] + 1);
    return r;
}

struct flags {
    uint32_t mode : 3;
    uint32_t enabled : 1;
    int32_t delta : 5;
    uint32_t id : 12;
    uint32_t rest : 11;
};

union word {
    uint32_t u;
    uint16_t h[2];
    uint8_t b[4];
};

static void section_structs(void)
{
    struct vec3 a = {opaque(1), opaque(2), opaque(3)};
    struct vec3 b = {opaque(-4), opaque(5), opaque(-6)};
    struct vec3 s = vec_add(a, b), c = vec_cross(a, b);
    struct small sm;
    struct record rec, rec2;
    struct flags f;
    union word w;
    int32_t i, d = vec_dot(&a, &b);

    kprintf("vec: a+b=(%d,%d,%d) axb=(%d,%d,%d) a.b=%d\n", s.x, s.y, s.z, c.x, c.y, c.z, d);
    check(s.x == -3 && s.y == 7 && s.z == -3, "vec_add");
    check(c.x == -27 && c.y == -6 && c.z == 13 && d == -12, "vec_cross/dot");
    mix_in((uint32_t)(c.x + 3 * c.y + 7 * c.z + d));

    sm = small_make(opaque(-1000));
    kprintf("small: s=%d u=%u c=%d sum=%d\n", sm.s, sm.u, sm.c, small_sum(sm));
    check(sm.s == -1000 && sm.u == 131 && sm.c == -32 && small_sum(sm) == -901, "small struct");

    memset(&rec, 0, sizeof(rec));
    memcpy(rec.name, "record", 7);
    for (i = 0; i < 6; i++)
        rec.values[i] = opaque(i * 100);
    rec.pos = a;
    rec2 = record_shift(rec, opaque(7));
    kprintf("record: %s -> %s values[5]=%d->%d pos.x=%d->%d\n", rec.name, rec2.name, rec.values[5], rec2.values[5],
            rec.pos.x, rec2.pos.x);
    check(rec2.values[5] == 535 && rec2.pos.x == -6 && rec2.name[0] == 's', "record by value");

    memset(&f, 0, sizeof(f));
    f.mode = (uint32_t)opaque(13);   /* truncated to 3 bits: 5 */
    f.enabled = 1;
    f.delta = opaque(-9);
    f.id = (uint32_t)opaque(0xABC);
    f.rest = (uint32_t)opaque(0x7FF);
    memcpy(&w.u, &f, 4);
    kprintf("bitfields: mode=%u enabled=%u delta=%d id=%03x rest=%x raw=%08x\n", f.mode, f.enabled, f.delta, f.id,
            f.rest, w.u);
    check(f.mode == 5 && f.delta == -9 && w.u == 0xFFF5797Du, "bitfields");
    f.delta = f.delta * 2 + 3; /* -15 */
    f.mode += 4;               /* wraps to 1 */
    check(f.delta == -15 && f.mode == 1, "bitfield arithmetic");

    w.u = opaqueu(0x11223344u);
    kprintf("union: u=%08x h={%04x,%04x} b={%02x,%02x,%02x,%02x}\n", w.u, w.h[0], w.h[1], w.b[0], w.b[1], w.b[2],
            w.b[3]);
    check(w.b[0] == 0x44 && w.h[1] == 0x1122, "little endian");
    w.b[1] = 0xEE;
    w.h[1] ^= 0xFFFF;
    check(w.u == 0xEEDDEE44u, "union byte/word stores");
    mix_in(w.u);
}

/* ========================================================================
 * 5. char / short arithmetic: sign and zero extension, wrap-around.
 * ===================================================================== */

static volatile int8_t s8[] = {-128, -1, 0, 1, 127, -100, 100, 55};
static volatile uint8_t u8[] = {0, 1, 127, 128, 200, 255, 17, 99};
static volatile int16_t s16[] = {-32768, -1, 0, 1, 32767, -1234, 4321, 300};
static volatile uint16_t u16[] = {0, 1, 32767, 32768, 50000, 65535, 4660, 300};

NOINLINE uint16_t bswap16(uint16_t x) { return (uint16_t)((x << 8) | (x >> 8)); }
NOINLINE uint32_t bswap32(uint32_t x)
{
    return (x >> 24) | ((x >> 8) & 0xFF00u) | ((x << 8) & 0xFF0000u) | (x << 24);
}
NOINLINE uint8_t sat_add_u8(uint8_t a, uint8_t b)
{
    uint32_t s = (uint32_t)a + b;
    return (uint8_t)(s > 255 ? 255 : s);
}
NOINLINE int8_t sat_add_s8(int8_t a, int8_t b)
{
    int32_t s = (int32_t)a + b;
    return (int8_t)(s > 127 ? 127 : s < -128 ? -128 : s);
}

static void str_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

static void section_narrow(void)
{
    int32_t i;
    int32_t ssum = 0;
    uint32_t usum = 0;
    int16_t acc16 = 0;
    uint8_t acc8 = 0;
    int8_t prod8;
    char text[32];

    kprintf(" i   s8  u8     s16   u16 | s8+u8 s16*2 u16>>1 (u8)s8 (s16)u16 sat8u sat8s bswap16\n");
    for (i = 0; i < 8; i++) {
        int8_t a = s8[i];
        uint8_t b = u8[i];
        int16_t c = s16[i];
        uint16_t d = u16[i];
        int32_t x = a + b;
        int16_t c2 = (int16_t)(c * 2);
        uint8_t a_u = (uint8_t)a;
        int16_t d_s = (int16_t)d;
        ssum += a + c;
        usum += b + d;
        acc16 = (int16_t)(acc16 + c * 3);
        acc8 = (uint8_t)(acc8 * 31 + b);
        kprintf("%2d %4d %3u %7d %5u | %5d %5d %6u %7u %8d %5u %5d %04x\n", i, a, b, c, d, x, c2, d >> 1, a_u, d_s,
                sat_add_u8(b, 100), sat_add_s8(a, 100), bswap16(d));
        mix_in((uint32_t)x ^ ((uint32_t)c2 << 8) ^ ((uint32_t)a_u << 24));
    }
    prod8 = (int8_t)(s8[5] * s8[7]); /* -100 * 55 = -5500 -> wraps to -124 */
    kprintf("sums: signed=%d unsigned=%u acc16=%d acc8=%u prod8=%d bswap32=%08x\n", ssum, usum, acc16, acc8, prod8,
            bswap32(opaqueu(0x12345678u)));
    check(ssum == 3440 && usum == 186858, "narrow sums");
    check(prod8 == -124, "int8 product wraps");
    check((int8_t)u8[3] == -128 && (uint16_t)s16[1] == 65535 && (int32_t)(uint8_t)s8[1] == 255, "conversions");
    check(s8[0] < 0 && u8[3] > 0 && (s8[0] < s8[2]) && (u8[3] > u8[2]), "signed vs unsigned compares");
    check(bswap32(0x12345678u) == 0x78563412u && bswap16(0xABCD) == 0xCDAB, "byte swaps");
    check(sat_add_u8(200, 100) == 255 && sat_add_s8(100, 100) == 127 && sat_add_s8(-100, -100) == -128, "saturation");

    memcpy(text, "Hello, IA-32 world!", 20);
    str_upper(text);
    kprintf("upper: %s\n", text);
    check(strcmp(text, "HELLO, IA-32 WORLD!") == 0, "str_upper");
}

/* ========================================================================
 * 6. Comparisons materialised as values (setcc).
 * ===================================================================== */

NOINLINE uint32_t cmp_mask(int32_t a, int32_t b)
{
    uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
    return (uint32_t)(a < b) | (uint32_t)(a <= b) << 1 | (uint32_t)(a > b) << 2 | (uint32_t)(a >= b) << 3 |
           (uint32_t)(a == b) << 4 | (uint32_t)(a != b) << 5 | (uint32_t)(ua < ub) << 6 | (uint32_t)(ua <= ub) << 7 |
           (uint32_t)(ua > ub) << 8 | (uint32_t)(ua >= ub) << 9 | (uint32_t)((a & b) == 0) << 10 |
           (uint32_t)(a < 0) << 11 | (uint32_t)!a << 12;
}

NOINLINE int32_t sign_of(int32_t a) { return (a > 0) - (a < 0); }

static void section_setcc(void)
{
    static const int32_t v[] = {-2147483647 - 1, -5, -1, 0, 1, 5, 2147483647};
    int32_t i, j;
    uint32_t all = 0;
    kprintf("compare masks (lt le gt ge eq ne | ult ule ugt uge | test sign zero):\n");
    for (i = 0; i < ARRAY_LEN(v); i++) {
        kprintf("  %11d:", v[i]);
        for (j = 0; j < ARRAY_LEN(v); j++) {
            uint32_t m = cmp_mask(opaque(v[i]), opaque(v[j]));
            kprintf(" %04x", m);
            all += m * (uint32_t)(i * 7 + j + 1);
        }
        kprintf("  sign=%+d\n", sign_of(opaque(v[i])));
    }
    kprintf("  weighted sum = %u\n", all);
    mix_in(all);
    check(cmp_mask(-1, 1) == 0x0B23u && cmp_mask(1, -1) == 0x00ECu && cmp_mask(0, 0) == 0x169Au, "cmp_mask");
    check(sign_of(-9) == -1 && sign_of(0) == 0 && sign_of(9) == 1, "sign_of");
}

/* ========================================================================
 * 7. 64-bit arithmetic without division: adc/sbb, mul, shld/shrd.
 * ===================================================================== */

static void print64(const char *label, uint64_t v)
{
    kprintf("%s%08x_%08x", label, (uint32_t)(v >> 32), (uint32_t)v);
}

NOINLINE uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 0x100000001B3ull;
    }
    return h;
}

NOINLINE uint64_t shl64(uint64_t v, uint32_t n) { return v << (n & 63); }
NOINLINE uint64_t shr64(uint64_t v, uint32_t n) { return v >> (n & 63); }
NOINLINE int64_t sar64(int64_t v, uint32_t n) { return v >> (n & 63); }
NOINLINE int64_t neg64(int64_t v) { return -v; }
NOINLINE int less64(int64_t a, int64_t b) { return a < b; }
NOINLINE int lessu64(uint64_t a, uint64_t b) { return a < b; }

static void section_64bit(void)
{
    uint64_t a = ((uint64_t)opaqueu(0x01234567u) << 32) | opaqueu(0x89ABCDEFu);
    uint64_t b = ((uint64_t)opaqueu(0xFEDCBA98u) << 32) | opaqueu(0x76543210u);
    uint64_t sum = a + b, diff = a - b, prod = a * b, sq;
    uint64_t h0 = fnv1a64(""), h1 = fnv1a64("a"), h2 = fnv1a64("foobar");
    uint32_t n;
    uint64_t acc = 0;

    print64("64: a=", a);
    print64(" b=", b);
    print64("\n    a+b=", sum);
    print64(" a-b=", diff);
    print64(" a*b=", prod);
    kprintf("\n");
    check(sum == 0xFFFFFFFFFFFFFFFFull && diff == 0x02468ACF13579BDFull,
          "64-bit add/sub");
    check(prod == 0x2236D88FE5618CF0ull, "64-bit mul");

    sq = (uint64_t)opaqueu(0xFFFFFFFFu) * opaqueu(0xFFFFFFFFu);
    print64("    0xffffffff^2=", sq);
    kprintf("\n");
    check(sq == 0xFFFFFFFE00000001ull, "32x32->64 mul");

    print64("    fnv1a64(\"\")=", h0);
    print64(" (\"a\")=", h1);
    print64(" (\"foobar\")=", h2);
    kprintf("\n");
    check(h0 == 0xCBF29CE484222325ull && h1 == 0xAF63DC4C8601EC8Cull && h2 == 0x85944171F73967E8ull, "fnv1a64");

    for (n = 0; n < 64; n += 7) {
        uint64_t l = shl64(a, n), r = shr64(b, n);
        int64_t s = sar64((int64_t)b, n);
        acc += l ^ r ^ (uint64_t)s;
    }
    print64("    shift mix=", acc);
    kprintf("\n");
    check(shl64(1, 63) == 0x8000000000000000ull && shr64(0x8000000000000000ull, 33) == 0x40000000ull, "64 shifts");
    check(sar64((int64_t)0x8000000000000000ull, 40) == (int64_t)0xFFFFFFFFFF800000ull, "64 sar");
    check(neg64(1) == -1 && neg64((int64_t)0xFFFFFFFF00000000ull) == 0x100000000ll, "64 neg");
    check(less64(-1, 0) && !lessu64((uint64_t)-1, 0) && less64((int64_t)0x7FFFFFFF, (int64_t)0x80000000ll) &&
              lessu64(0xFFFFFFFFull, 0x100000000ull) && !less64(5, 5),
          "64 compares");
    mix_in((uint32_t)acc ^ (uint32_t)(acc >> 32) ^ (uint32_t)prod);
}

/* ========================================================================
 * 8. Bit scans and bit tricks.
 * ===================================================================== */

NOINLINE int32_t ctz32(uint32_t x) { return __builtin_ctz(x); }
NOINLINE int32_t clz32(uint32_t x) { return __builtin_clz(x); }

NOINLINE int32_t popcount32(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (int32_t)((x * 0x01010101u) >> 24);
}

NOINLINE uint32_t reverse_bits(uint32_t x)
{
    uint32_t r = 0;
    int32_t i;
    for (i = 0; i < 32; i++) {
        r = (r << 1) | (x & 1);
        x >>= 1;
    }
    return r;
}

static void section_bits(void)
{
    static const uint32_t v[] = {1, 2, 3, 0x80, 0x1000, 0x80000000u, 0xFFFFFFFFu, 0x00F0F000u, 0xDEADBEEFu, 12345};
    int32_t i;
    kprintf("     value   ctz clz pop reversed par pow2\n");
    for (i = 0; i < ARRAY_LEN(v); i++) {
        uint32_t x = opaqueu(v[i]);
        int32_t pop = popcount32(x);
        kprintf("  %08x %3d %3d %3d %08x %3d %4d\n", x, ctz32(x), clz32(x), pop, reverse_bits(x), pop & 1,
                (x & (x - 1)) == 0);
        mix_in((uint32_t)(ctz32(x) + 32 * clz32(x) + 1024 * pop) ^ reverse_bits(x));
    }
    check(ctz32(0x1000) == 12 && clz32(0x1000) == 19 && popcount32(0xDEADBEEFu) == 24, "bit scans");
    check(reverse_bits(1) == 0x80000000u && reverse_bits(0x00F0F000u) == 0x000F0F00u, "reverse_bits");
}

/* ========================================================================
 * 9. Recursion.
 * ===================================================================== */

NOINLINE uint32_t ackermann(uint32_t m, uint32_t n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}

NOINLINE uint32_t fib_rec(uint32_t n) { return n < 2 ? n : fib_rec(n - 1) + fib_rec(n - 2); }

static uint32_t g_moves;
NOINLINE void hanoi(int32_t n, int32_t from, int32_t to, int32_t via)
{
    if (n == 0)
        return;
    hanoi(n - 1, from, via, to);
    g_moves++;
    hanoi(n - 1, via, to, from);
}

static int is_odd(uint32_t n);
NOINLINE static int is_even(uint32_t n) { return n == 0 ? 1 : is_odd(n - 1); }
NOINLINE static int is_odd(uint32_t n) { return n == 0 ? 0 : is_even(n - 1); }

static void section_recursion(void)
{
    uint32_t a23 = ackermann(opaqueu(2), opaqueu(3)), a33 = ackermann(opaqueu(3), opaqueu(3));
    uint32_t f20 = fib_rec(opaqueu(20));
    g_moves = 0;
    hanoi(opaque(12), 1, 3, 2);
    kprintf("recursion: ack(2,3)=%u ack(3,3)=%u fib(20)=%u hanoi(12)=%u moves even(77)=%d odd(77)=%d\n", a23, a33,
            f20, g_moves, is_even(opaqueu(77)), is_odd(opaqueu(77)));
    check(a23 == 9 && a33 == 61 && f20 == 6765 && g_moves == 4095, "recursion values");
    check(!is_even(77) && is_odd(77), "mutual recursion");
    mix_in(a33 + f20 + g_moves);
}

/* ========================================================================
 * 10. A recursive-descent expression evaluator (switch on characters).
 * ===================================================================== */

static const char *g_p;
static int32_t g_err;

static int32_t parse_expr(void);

static void skip_spaces(void)
{
    while (*g_p == ' ' || *g_p == '\t')
        g_p++;
}

static int32_t parse_primary(void)
{
    int32_t v = 0;
    skip_spaces();
    switch (*g_p) {
    case '(':
        g_p++;
        v = parse_expr();
        skip_spaces();
        if (*g_p == ')')
            g_p++;
        else
            g_err = 1;
        return v;
    case '-':
        g_p++;
        return -parse_primary();
    case '~':
        g_p++;
        return ~parse_primary();
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        while (*g_p >= '0' && *g_p <= '9')
            v = v * 10 + (*g_p++ - '0');
        return v;
    default:
        g_err = 1;
        return 0;
    }
}

static int32_t parse_term(void)
{
    int32_t v = parse_primary();
    for (;;) {
        int32_t r;
        skip_spaces();
        switch (*g_p) {
        case '*':
            g_p++;
            v *= parse_primary();
            break;
        case '/':
            g_p++;
            r = parse_primary();
            if (r == 0) {
                g_err = 1;
                return 0;
            }
            v /= r;
            break;
        case '%':
            g_p++;
            r = parse_primary();
            if (r == 0) {
                g_err = 1;
                return 0;
            }
            v %= r;
            break;
        default:
            return v;
        }
    }
}

static int32_t parse_expr(void)
{
    int32_t v = parse_term();
    for (;;) {
        skip_spaces();
        if (*g_p == '+') {
            g_p++;
            v += parse_term();
        } else if (*g_p == '-') {
            g_p++;
            v -= parse_term();
        } else {
            return v;
        }
    }
}

static void section_parser(void)
{
    static const struct {
        const char *text;
        int32_t value;
    } cases[] = {
        {"1+2*3", 7},
        {"2*(3+4)-10/3+-5%3", 9},
        {"(((7)))", 7},
        {"100/7*7+100%7", 100},
        {"-(2+3)*-(4-10)", -30},
        {"~0 * 5", -5},
        {" 65536 * 16384 / 4 ", 268435456},
        {"17 % -5 + -17 % 5", 0},
    };
    int32_t i;
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        int32_t v;
        g_p = cases[i].text;
        g_err = 0;
        v = parse_expr();
        kprintf("  expr %-22s = %d %s\n", cases[i].text, v, (v == cases[i].value && !g_err) ? "ok" : "BAD");
        check(v == cases[i].value && !g_err, "expression value");
        mix_in((uint32_t)v);
    }
}

/* ========================================================================
 * 11. A sparse switch (compare tree) and string results.
 * ===================================================================== */

NOINLINE const char *status_name(int32_t code)
{
    switch (code) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 418: return "I'm a teapot";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "?";
    }
}

static void section_sparse(void)
{
    static const int32_t codes[] = {100, 200, 202, 204, 301, 404, 418, 500, 503, 999, -1};
    int32_t i;
    uint32_t total = 0;
    for (i = 0; i < ARRAY_LEN(codes); i++) {
        const char *n = status_name(opaque(codes[i]));
        kprintf("  %4d %s\n", codes[i], n);
        total += (uint32_t)strlen(n) * (uint32_t)(i + 1);
    }
    kprintf("  name length checksum = %u\n", total);
    check(total == 638, "status names");
    mix_in(total);
}

/* ========================================================================
 * 12. A bignum in 16-bit limbs: 40! and 2^100 in decimal (32-bit math only).
 * ===================================================================== */

#define LIMBS 16
struct big {
    uint16_t limb[LIMBS]; /* little-endian base-65536 */
};

static void big_set(struct big *b, uint32_t v)
{
    memset(b, 0, sizeof(*b));
    b->limb[0] = (uint16_t)v;
    b->limb[1] = (uint16_t)(v >> 16);
}

static void big_mul_small(struct big *b, uint32_t m) /* m < 65536 */
{
    uint32_t carry = 0;
    int32_t i;
    for (i = 0; i < LIMBS; i++) {
        uint32_t t = (uint32_t)b->limb[i] * m + carry;
        b->limb[i] = (uint16_t)t;
        carry = t >> 16;
    }
}

static uint32_t big_div_small(struct big *b, uint32_t d) /* returns remainder */
{
    uint32_t rem = 0;
    int32_t i;
    for (i = LIMBS - 1; i >= 0; i--) {
        uint32_t cur = (rem << 16) | b->limb[i];
        b->limb[i] = (uint16_t)(cur / d);
        rem = cur % d;
    }
    return rem;
}

static int big_is_zero(const struct big *b)
{
    int32_t i;
    for (i = 0; i < LIMBS; i++)
        if (b->limb[i])
            return 0;
    return 1;
}

static void big_to_dec(struct big b, char *out)
{
    char tmp[80];
    int32_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + big_div_small(&b, 10));
    } while (!big_is_zero(&b));
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

static void section_bignum(void)
{
    struct big b;
    char dec[80];
    uint32_t i;

    big_set(&b, 1);
    for (i = 2; i <= opaqueu(40); i++)
        big_mul_small(&b, i);
    big_to_dec(b, dec);
    kprintf("40!   = %s\n", dec);
    check(strcmp(dec, "815915283247897734345611269596115894272000000000") == 0, "40!");
    mix_in((uint32_t)strlen(dec) + b.limb[3]);

    big_set(&b, 1);
    for (i = 0; i < opaqueu(100); i++)
        big_mul_small(&b, 2);
    big_to_dec(b, dec);
    kprintf("2^100 = %s\n", dec);
    check(strcmp(dec, "1267650600228229401496703205376") == 0, "2^100");
    mix_in((uint32_t)strlen(dec) + b.limb[6]);
}

/* ======================================================================== */

int main(void)
{
    kprintf("mix: assorted IA-32 code generation tests\n");
    kprintf("[1] interpreter\n");
    section_vm();
    kprintf("[2] function pointers\n");
    section_binops();
    kprintf("[3] division\n");
    section_division();
    kprintf("[4] structs\n");
    section_structs();
    kprintf("[5] char/short\n");
    section_narrow();
    kprintf("[6] setcc\n");
    section_setcc();
    kprintf("[7] 64-bit\n");
    section_64bit();
    kprintf("[8] bits\n");
    section_bits();
    kprintf("[9] recursion\n");
    section_recursion();
    kprintf("[10] parser\n");
    section_parser();
    kprintf("[11] sparse switch\n");
    section_sparse();
    kprintf("[12] bignum\n");
    section_bignum();
    kprintf("mix: hash=%08x %s (%d failures)\n", g_hash, g_failures == 0 ? "PASS" : "FAIL", g_failures);
    return g_failures == 0 ? 0 : 1;
}
