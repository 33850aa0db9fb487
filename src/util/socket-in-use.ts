// Whether a daemon answers on a Unix socket: a stale socket file is replaced, a live one never.
import { connect } from 'node:net';

export function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
