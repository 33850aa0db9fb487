// The deletion of stopped networks' bridges, after their stops returned. The kernel deletes a
// bridge in 32-40 ms (RCU grace periods in its unregistration), ~17 ms a bridge when many go in
// one unregistration; a stop retires its bridge instead (kernel.ts: retireBridge: addresses
// gone, down, renamed into the retired group, its name free) and this deletes the retired
// bridges in batches: once no bridge was retired for QUIET_MS, or QUIET_MAX_MS after the first
// one waiting, so the stops of many networks one after the other are deleted together.
import type { NetworkKernel } from './kernel.js';

const QUIET_MS = 100;
const QUIET_MAX_MS = 1000;

export class RetiredBridgeReaper {
  private timer: NodeJS.Timeout | undefined;
  /** When the oldest bridge not yet being deleted was retired. */
  private waitingSince: number | undefined;
  private deleting: Promise<void> = Promise.resolve();

  constructor(
    private readonly kernel: NetworkKernel,
    private readonly warn: (message: string) => void,
  ) {}

  /** A bridge was retired: deleted with those that follow it soon. */
  retired(): void {
    const now = Date.now();
    this.waitingSince ??= now;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reap(), Math.min(QUIET_MS, this.waitingSince + QUIET_MAX_MS - now));
  }

  /**
   * Deletes the retired bridges now, after a deletion under way (also those a daemon that ended
   * before deleting them left); resolves once they are gone. A failure is warned of: the next
   * reap tries again.
   */
  reap(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waitingSince = undefined;
    this.deleting = this.deleting.then(() =>
      this.kernel.deleteRetiredBridges().then(
        () => undefined,
        (err: unknown) => this.warn((err as Error).message),
      ),
    );
    return this.deleting;
  }

  /** Resolves once no retired bridge waits or is being deleted (the daemon's shutdown, tests). */
  settle(): Promise<void> {
    return this.timer !== undefined ? this.reap() : this.deleting;
  }
}
