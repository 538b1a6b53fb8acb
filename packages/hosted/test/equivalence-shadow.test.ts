// The C programs on the type-1 hypervisor and hosted-shadow give the bare machine's guest-visible results
// (the suite: equivalence.ts; hosted-EPT: equivalence-ept.test.ts).
import { equivalenceSuite } from "./equivalence.js";

equivalenceSuite("shadow");
