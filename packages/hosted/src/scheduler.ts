// The host's process scheduler: a fair-share scheduler in the manner of CFS. Every runnable task
// accumulates virtual runtime (real runtime scaled by 1/weight); the task with the least runs next.
// The promise: over any interval in which a set of tasks stays runnable, each gets the share
// weight / (sum of their weights) of the CPU, to within one time slice. Slices are the scheduling
// period divided in proportion to weight, never shorter than the minimum granularity. A task that
// wakes up after sleeping gets at most half a period of credit, and preempts the running task when
// it is more than the wake-up granularity behind it.

/** What the scheduler needs of a task. */
export interface SchedEntity {
  readonly pid: number;
  /** Relative weight (1 = a nice-0 task). */
  readonly weight: number;
  vruntime: number;
  /** Cycles run since the task was last picked (for the slice check). */
  sliceRuntime: number;
}

export interface SchedulerParams {
  /** Scheduling period in cycles: every runnable task runs once per period (sched_latency). */
  latencyCycles: number;
  /** The shortest slice (sched_min_granularity). */
  minGranularityCycles: number;
  /** How far behind the running task a woken task must be to preempt it (sched_wakeup_granularity). */
  wakeupGranularityCycles: number;
}

export class FairScheduler<T extends SchedEntity> {
  private readonly queue: T[] = [];
  /** Monotonic floor of the runnable tasks' virtual runtimes. */
  minVruntime = 0;
  /** A task that called yield(): skipped once by pick() if anything else can run. */
  private yielded: T | null = null;

  constructor(readonly params: SchedulerParams) {}

  get runnable(): readonly T[] {
    return this.queue;
  }

  get totalWeight(): number {
    let w = 0;
    for (const t of this.queue) w += t.weight;
    return w;
  }

  has(task: T): boolean {
    return this.queue.includes(task);
  }

  /** Adds a runnable task; `waking` applies the sleeper credit rule. */
  enqueue(task: T, waking: boolean): void {
    if (this.has(task)) return;
    if (waking) task.vruntime = Math.max(task.vruntime, this.minVruntime - this.params.latencyCycles / 2);
    else task.vruntime = Math.max(task.vruntime, this.minVruntime);
    this.queue.push(task);
  }

  dequeue(task: T): void {
    const k = this.queue.indexOf(task);
    if (k >= 0) this.queue.splice(k, 1);
    if (this.yielded === task) this.yielded = null;
  }

  /** Charges `cycles` of CPU time to a running task. */
  account(task: T, cycles: number): void {
    task.vruntime += cycles / task.weight;
    task.sliceRuntime += cycles;
    this.updateMin();
  }

  private updateMin(): void {
    if (this.queue.length === 0) return;
    let m = Number.POSITIVE_INFINITY;
    for (const t of this.queue) m = Math.min(m, t.vruntime);
    this.minVruntime = Math.max(this.minVruntime, m);
  }

  /** The slice a task gets within one period, in cycles. */
  slice(task: T): number {
    const total = this.totalWeight || task.weight;
    const n = this.queue.length;
    const period = Math.max(this.params.latencyCycles, n * this.params.minGranularityCycles);
    return Math.max(this.params.minGranularityCycles, (period * task.weight) / total);
  }

  /** The runnable task with the least virtual runtime (ties: lowest pid), or null. */
  pick(): T | null {
    let best: T | null = null;
    for (const t of this.queue) {
      if (t === this.yielded && this.queue.length > 1) continue;
      if (best === null || t.vruntime < best.vruntime || (t.vruntime === best.vruntime && t.pid < best.pid)) best = t;
    }
    this.yielded = null;
    if (best) best.sliceRuntime = 0;
    return best;
  }

  yield(task: T): void {
    this.yielded = task;
  }

  /** At a timer tick: should the running task give up the CPU? */
  tickPreempts(current: T): boolean {
    if (this.queue.length < 2 || !this.has(current)) return false;
    if (current.sliceRuntime < this.slice(current)) return false;
    return this.queue.some((t) => t !== current && t.vruntime < current.vruntime);
  }

  /** When `woken` becomes runnable: should it preempt `current`? */
  wakeupPreempts(current: T, woken: T): boolean {
    if (!this.has(current)) return true;
    return woken.vruntime + this.params.wakeupGranularityCycles / woken.weight < current.vruntime;
  }
}
