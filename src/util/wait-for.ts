// Waiting for a condition instead of a fixed time: polls `condition` every `interval` ms until it
// gives a truthy value (returned) or `timeout` ms have passed (rejects naming `what` was awaited,
// with `detail()` appended, e.g. the log that should have shown it).
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** What is awaited, for the timeout error: "the daemon's socket", "two leases". */
  what: string;
  timeout?: number;
  interval?: number;
  /** Extra context for the timeout error. */
  detail?: () => string;
}

export class WaitTimeout extends Error {
  override name = 'WaitTimeout';
}

export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { what, timeout = 5000, interval = 50, detail }: WaitOptions,
): Promise<Exclude<T, false | 0 | '' | null | undefined>> {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value as Exclude<T, false | 0 | '' | null | undefined>;
    if (Date.now() >= end) {
      const extra = detail?.();
      throw new WaitTimeout(`timed out after ${timeout} ms waiting for ${what}${extra ? `: ${extra}` : ''}`);
    }
    await sleep(Math.min(interval, Math.max(0, end - Date.now())));
  }
}
