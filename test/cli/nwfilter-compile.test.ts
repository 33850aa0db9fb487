import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, ['bin/virtwall.js', 'nwfilter-compile', ...args], { encoding: 'utf8', input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Commands of the output, each joined onto one line. */
const commandLines = (out: string) => out.replace(/ \\\n/g, ' ').trim().split('\n');

describe('virtwall nwfilter-compile', () => {
  it('instantiates a file referencing a filter from --filter-dir, with MAC and a repeated --param as a list', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vwt-cli-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'ports.xml'),
      `<filter name='ports'><rule action='accept' direction='out'><tcp srcmacaddr='$MAC' dstportstart='$P[@1]'/></rule></filter>`,
    );
    const r = cli(
      ['-', '--ifname', 'vnet7', '--mac', '52:54:0:0:0:1', '--param', 'P=80', '--param', 'P=443', '--filter-dir', dir],
      `<filter name='top'><filterref filter='ports'/><filterref filter='allow-arp'/></filter>`,
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = commandLines(r.stdout);
    const appended = lines.filter((l) => l.includes('-A FJ-vnet7'));
    assert.deepEqual(
      appended.map((l) => /--dport (\d+)/.exec(l)?.[1]),
      ['80', '443'],
    );
    assert.ok(appended.every((l) => l.includes('--mac-source 52:54:00:00:00:01')));
    // allow-arp comes from the stock filters; the switch-over renames the temporary chains.
    assert.ok(lines.includes('ebtables --concurrent -t nat -A libvirt-J-vnet7 -p 0x0806 -j J-vnet7-arp'), r.stdout);
    assert.ok(lines.includes('ebtables --concurrent -t nat -A J-vnet7-arp -j ACCEPT'), r.stdout);
    assert.ok(lines.some((l) => l.endsWith('-E FJ-vnet7 FI-vnet7')));
  });

  it('exits 2 with the location for bad input and prints nothing', () => {
    const loop = cli(['-', '--ifname', 'vnet0'], `<filter name='x'>\n  <filterref filter='x'/>\n</filter>`);
    assert.equal(loop.status, 2);
    assert.equal(loop.stdout, '');
    assert.match(loop.stderr, /-:2:\d+ .*loop: x -> x/);
    const missing = cli(
      ['-', '--ifname', 'vnet0'],
      `<filter name='x'><rule action='accept' direction='out'><ip srcipaddr='$IP'/></rule></filter>`,
    );
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /unresolvable.*IP/);
    assert.equal(cli(['-', '--ifname', 'vnet0', '--param', 'bad'], `<filter name='x'/>`).status, 2);
    const dir = mkdtempSync(join(tmpdir(), 'vwt-cli-'));
    try {
      writeFileSync(join(dir, 'ports.xml'), `<filter name='not-ports'/>`);
      const misnamed = cli(
        ['-', '--ifname', 'vnet0', '--filter-dir', dir],
        `<filter name='x'><filterref filter='ports'/></filter>`,
      );
      assert.equal(misnamed.status, 2);
      assert.match(misnamed.stderr, /ports\.xml.*does not match.*'not-ports'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(cli(['-', '--ifname', 'vnet0', '--backend', 'pf'], `<filter name='x'/>`).status, 2);
    const nft = cli(
      ['-', '--ifname', 'vnet0', '--backend', 'nftables', '--mac', '52:54:00:00:00:0a'],
      `<filter name='x'><rule action='drop' direction='out'><mac srcmacaddr='$MAC' match='no'/></rule></filter>`,
    );
    assert.equal(nft.status, 0);
    assert.match(nft.stdout, /add element bridge virtwall_nwf \S+ { "vnet0" . 52:54:00:00:00:0a }/);
  });
});
