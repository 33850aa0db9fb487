// Operations that must not overlap (the daemon's records and backends, a backend's plans against
// the state the previous change left) run one at a time, in the order they were asked for; one
// that fails hands its error to its caller and does not stop those after it.
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T> | T): Promise<T> {
    const next = this.tail.then(op, op);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
