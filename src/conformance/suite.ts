// What a conformance suite is: something that discovers its cases from a libvirt-style
// tests/ folder and runs each one. Suites never carry a list of cases.

export interface CaseResult {
  ok: boolean;
  /** Short explanation of a failure: a diff, or the unexpected error. */
  detail?: string;
}

export interface SuiteCase {
  name: string;
  run(): CaseResult | Promise<CaseResult>;
}

export interface Suite {
  /** libvirt's test program name without `test`, e.g. `nwfilterxml2xml`. */
  name: string;
  /** Cases found under the corpus root; `undefined` when the suite's data folder is absent. */
  discover(corpus: string): SuiteCase[] | undefined;
}

/** A suite whose data libvirt has but virtwall cannot run yet. */
export function notImplemented(name: string, dataDir: string): Suite & { notImplemented: true; dataDir: string } {
  return { name, dataDir, notImplemented: true, discover: () => [] };
}
