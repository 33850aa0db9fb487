// Work that runs in a SerialQueue some time after it is asked for, once for all the asks before
// it runs (a write of state after a burst of changes): at the earliest time any of them asked.
import type { SerialQueue } from './serial-queue.js';

export class QueuedTask {
  private timer: NodeJS.Timeout | undefined;
  private due = 0;
  /** Its run waits in the queue: what changes until it runs is in that run. */
  private queued = false;

  /** `work` throws only what its run may drop (the next ask runs it again). */
  constructor(
    private readonly queue: SerialQueue,
    private readonly work: () => Promise<void> | void,
  ) {}

  /** Runs the work `delay` ms from now, or earlier when a run is due earlier already or waits in the queue. */
  soon(delay: number): void {
    const due = Date.now() + delay;
    if (this.queued || (this.timer && this.due <= due)) return;
    clearTimeout(this.timer);
    this.due = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.queued = true;
      void this.queue
        .run(async () => {
          // the operation it waited for answers its caller first (a write at 10,000 ports takes ~0.2 s)
          await new Promise((r) => setImmediate(r));
          this.queued = false;
          await this.work();
        })
        .catch(() => undefined);
    }, delay).unref();
  }
}
