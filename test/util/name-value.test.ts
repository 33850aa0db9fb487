import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNameValues } from '../../src/util/name-value.js';

it('NAME=VALUE words: split at the first =, repeated names make a list in order', () => {
  assert.deepEqual(
    parseNameValues(['IP=10.0.0.1', 'X=a=b', 'IP=10.0.0.2', 'E='], 'p'),
    new Map([
      ['IP', ['10.0.0.1', '10.0.0.2']],
      ['X', ['a=b']],
      ['E', ['']],
    ]),
  );
  assert.deepEqual(Object.fromEntries(parseNameValues(['__proto__=x'], 'p')), JSON.parse('{"__proto__": ["x"]}'));
  for (const bad of ['IP', '=x', ''])
    assert.throws(() => parseNameValues([bad], '--param'), {
      message: `invalid --param '${bad}': expected NAME=VALUE`,
    });
  assert.throws(() => parseNameValues(['a\nb'], '--param'), {
    message: "invalid --param 'a\\x0ab': expected NAME=VALUE",
  });
});
