// Filter reference loops are refused when a filter is defined (libvirt's
// virNWFilterObjListDefLoopDetect), with the loop's path and the place of the filterref it
// starts from; what a binding's filters refuse at bind time is located at the binding.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VirtwallError } from '../../src/errors.js';
import { bindingXml, openDaemon, tempRoot } from './support.js';

const filter = (name: string, ...refs: string[]) =>
  `<filter name='${name}' chain='root'>\n${refs.map((r) => `  <filterref filter='${r}'/>\n`).join('')}</filter>\n`;

function loopRefused(message: string) {
  return (e: VirtwallError) => {
    assert.equal(e.kind, 'invalid-input');
    assert.equal(e.message, message);
    return true;
  };
}

describe('filter reference loops', () => {
  it('refuses a filter referring to itself, storing nothing', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    await assert.rejects(
      daemon.defineFilter(filter('a', 'a'), 'a.xml'),
      loopRefused("a.xml:2:25 <filterref> attribute 'filter': filter would introduce a loop: a -> a"),
    );
    assert.equal(existsSync(join(root, 'etc/virtwall/nwfilter/a.xml')), false);
  });

  it('refuses the definition that closes a loop through other filters', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    // a reference to a filter not defined yet is accepted, as libvirt does
    await daemon.defineFilter(filter('b', 'a'), 'b.xml');
    await assert.rejects(
      daemon.defineFilter(filter('a', 'allow-arp', 'b'), 'a.xml'),
      loopRefused("a.xml:3:25 <filterref> attribute 'filter': filter would introduce a loop: a -> b -> a"),
    );
    await daemon.defineFilter(filter('a', 'c'), 'a.xml');
    await daemon.defineFilter(filter('c', 'allow-arp'), 'c.xml');
    await assert.rejects(
      daemon.defineFilter(filter('c', 'b'), 'c.xml'),
      loopRefused("c.xml:2:25 <filterref> attribute 'filter': filter would introduce a loop: c -> b -> a -> c"),
    );
    assert.deepEqual(
      daemon.filters.get('c').entries.map((e) => e.kind === 'filterref' && e.filter),
      ['allow-arp'],
    );
  });

  it('accepts shared references that form no loop (a diamond)', async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    await daemon.defineFilter(filter('leaf', 'allow-arp'));
    await daemon.defineFilter(filter('left', 'leaf'));
    await daemon.defineFilter(filter('right', 'leaf'));
    await daemon.defineFilter(filter('top', 'left', 'right', 'leaf'));
    assert.equal(daemon.filters.get('top').name, 'top');
  });
});

describe('errors at bind time', () => {
  it("name the binding's own file and filterref, with the filters' path", async (t) => {
    const { root, cleanup } = tempRoot();
    t.after(cleanup);
    const { daemon } = await openDaemon(root);
    await daemon.defineFilter(filter('outer', 'missing'), 'outer.xml');
    await assert.rejects(daemon.createBinding(bindingXml('vnet0', 'outer'), 'b.xml'), (e: VirtwallError) => {
      assert.equal(e.kind, 'not-found');
      assert.equal(
        e.message,
        "b.xml:5:28 <filterref> attribute 'filter': referenced filter 'missing' does not exist (outer -> missing)",
      );
      return true;
    });
    // a loop written into the filter files by hand (not through define) is caught at bind time
    writeFileSync(join(root, 'etc/virtwall/nwfilter/x.xml'), filter('x', 'y'));
    writeFileSync(join(root, 'etc/virtwall/nwfilter/y.xml'), filter('y', 'x'));
    const again = await openDaemon(root);
    await assert.rejects(again.daemon.createBinding(bindingXml('vnet1', 'x'), 'b.xml'), (e: VirtwallError) => {
      assert.equal(e.kind, 'invalid-input');
      assert.equal(e.message, "b.xml:5:24 <filterref> attribute 'filter': filter reference loop: x -> y -> x");
      return true;
    });
    assert.deepEqual(again.daemon.bindings.list(), []);
  });
});
