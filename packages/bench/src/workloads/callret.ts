// CALL and RET: a control sample. Nothing here involves the hypervisor under any design.

import { loopWorkload } from "../harness/loop-workload.js";

export default loopWorkload({
  name: "call-ret",
  title: "CALL to a function that returns (control: no design should add anything)",
  unit: "one call/ret",
  order: 90,
  iterations: { full: 200_000, quick: 2_000 },
  parts: { body: "  call leaf_function", extra: "leaf_function:\n  ret" },
});
