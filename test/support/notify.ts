// systemd's notification socket played by python3 (notify-listener.py): each datagram with the
// PID the kernel vouches for, and whether the daemon's API socket accepted a connection right then.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface Notification {
  message: string;
  pid: number;
  serving: boolean;
}

export interface NotifyListener {
  /** The next notification, or undefined if none came within `ms`. */
  next(ms?: number): Promise<Notification | undefined>;
  close(): void;
}

/** Listens on `path` (bound when this resolves); `api` is the socket probed on each notification. */
export async function notifyListener(path: string, api: string): Promise<NotifyListener> {
  const child = spawn('python3', [join(import.meta.dirname, 'notify-listener.py'), path, api], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error('notify listener did not start');
  return {
    next: async (ms = 30_000) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const r = await lines.next();
      clearTimeout(timer);
      return r.done ? undefined : (JSON.parse(r.value as string) as Notification);
    },
    close: () => void child.kill('SIGKILL'),
  };
}
