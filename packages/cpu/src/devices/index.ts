// The machine's devices: the I/O port bus, the 8259A PIC pair, the 8254 PIT, the 16550A UART and the
// debug console/exit ports. Each file starts with a comment describing what is modeled and simplified.

export * from "./debug-console.js";
export * from "./debug-exit.js";
export * from "./device.js";
export * from "./pic.js";
export * from "./pit.js";
export * from "./port-bus.js";
export * from "./uart16550.js";
