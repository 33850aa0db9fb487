// libvirt's limit on how many DHCP packets of one port (per direction) it evaluates
// (virNWFilterSnoopRateLimit): 10 per second, with a burst of up to 50 per second allowed for
// two seconds at most once every 10 seconds. Packets over the limit are not looked at, so a
// guest flooding DHCP cannot keep the learner busy. Pure: the caller passes the time.

export const DHCP_PKT_RATE = 10;
export const DHCP_PKT_BURST = 50;
export const DHCP_BURST_INTERVAL_S = 10;

export class DhcpRateLimiter {
  private prev: number;
  private count = 0;
  private burst = 0;

  constructor(nowSeconds: number) {
    this.prev = Math.floor(nowSeconds);
  }

  /** Whether the packet arriving at `nowSeconds` may be evaluated. */
  admit(nowSeconds: number): boolean {
    const now = Math.floor(nowSeconds);
    // a burst spans two whole seconds
    const inBurst = now - this.burst <= 1;
    if (this.prev !== now && !inBurst) {
      this.prev = now;
      this.count = 1;
      return true;
    }
    this.count++;
    if (this.count < DHCP_PKT_RATE) return true;
    if (inBurst) return this.count <= DHCP_PKT_BURST;
    if (this.prev - this.burst > DHCP_BURST_INTERVAL_S) {
      this.burst = this.prev;
      return true;
    }
    return this.count <= DHCP_PKT_RATE;
  }
}
