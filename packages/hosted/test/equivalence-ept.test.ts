// The C programs on the type-1 hypervisor and hosted-EPT give the bare machine's guest-visible results
// (the suite: equivalence.ts; hosted-shadow: equivalence-shadow.test.ts).
import { equivalenceSuite } from "./equivalence.js";

equivalenceSuite("ept");
