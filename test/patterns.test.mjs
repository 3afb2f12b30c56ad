import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compilePattern, literalPattern } from '../dist/cjs/patterns.js';
import { InvalidPatternError } from '../dist/cjs/errors.js';
import { createStore } from '../dist/cjs/index.js';

/** Asserts which of `keys` the pattern matches and which it does not. */
function check(pattern, matching, notMatching) {
  const p = typeof pattern === 'string' ? compilePattern(pattern) : pattern;
  for (const key of matching) {
    assert.ok(p.test(key), `${JSON.stringify(p.source)} should match ${JSON.stringify(key)}`);
  }
  for (const key of notMatching) {
    assert.not.ok(p.test(key), `${JSON.stringify(p.source)} should not match ${JSON.stringify(key)}`);
  }
}

function assertKind(pattern, kind) {
  assert.is(compilePattern(pattern).kind, kind, `kind of ${JSON.stringify(pattern)}`);
}

function assertInvalid(fn, ...fragments) {
  let caught;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InvalidPatternError, `expected InvalidPatternError, got ${caught}`);
  assert.is(caught.code, 'ERR_KEYSHARE_INVALID_PATTERN');
  assert.is(caught.name, 'InvalidPatternError');
  for (const fragment of fragments) {
    assert.ok(caught.message.includes(fragment), `message ${JSON.stringify(caught.message)} lacks ${JSON.stringify(fragment)}`);
  }
  return caught;
}

// ---------------------------------------------------------------------------------------------
// The contract's examples

test('example: users:* (trailing star)', () => {
  check('users:*', ['users:123', 'users:abc', 'users:'], ['user:1', 'users', 'xusers:1', '']);
});

test('example: session:? (one character)', () => {
  check('session:?', ['session:1', 'session:a'], ['session:12', 'session:', 'xsession:1']);
});

test('example: cache:?? (two characters)', () => {
  check('cache:??', ['cache:12', 'cache:ab'], ['cache:1', 'cache:123', 'cache:']);
});

test('example: /^user_\\d+$/ (anchored regex)', () => {
  check('/^user_\\d+$/', ['user_1', 'user_123'], ['user_x', 'xuser_1', 'user_', 'user_1x']);
});

test('example: /test_.+/ (unanchored regex)', () => {
  check('/test_.+/', ['test_abc', 'test_123', 'mytest_a'], ['test_', 'test', 'tes_a']);
});

// ---------------------------------------------------------------------------------------------
// Classification and the KeyPattern fields

test('kind, source and literal for each kind', () => {
  const lit = compilePattern('users:1');
  assert.is(lit.kind, 'literal');
  assert.is(lit.source, 'users:1');
  assert.is(lit.literal, 'users:1');

  const glob = compilePattern('users:*');
  assert.is(glob.kind, 'glob');
  assert.is(glob.source, 'users:*');
  assert.is(glob.literal, undefined);

  const re = compilePattern('/^a/');
  assert.is(re.kind, 'regex');
  assert.is(re.source, '/^a/');
  assert.is(re.literal, undefined);

  const object = compilePattern(/^a/gi);
  assert.is(object.kind, 'regex');
  assert.is(object.source, '/^a/gi');
  assert.is(object.literal, undefined);
});

test('a pattern with only escaped wildcards is a glob naming one key (looked up, not scanned)', () => {
  const p = compilePattern('a\\*b');
  assert.is(p.kind, 'glob');
  assert.is(p.literal, 'a*b');
  check(p, ['a*b'], ['a\\*b', 'ab', 'axb', 'a*bc']);
});

test('literal: exact match only, backslashes and metacharacters are literal', () => {
  check('user:1', ['user:1'], ['user:10', 'xuser:1', 'user:', 'User:1']);
  const backslash = compilePattern('a\\b');
  assert.is(backslash.kind, 'literal');
  assert.is(backslash.literal, 'a\\b');
  check(backslash, ['a\\b'], ['ab', 'a\\\\b']);
  check('a\\\\b', ['a\\\\b'], ['a\\b']);
  check('a.b+c[d]$^|(e){2}', ['a.b+c[d]$^|(e){2}'], ['axb+c[d]$^|(e){2}', 'a.bbc[d]$^|(e){2}']);
});

test('the empty pattern is the literal empty key', () => {
  const p = compilePattern('');
  assert.is(p.kind, 'literal');
  assert.is(p.literal, '');
  check(p, [''], ['a', ' ']);
});

// ---------------------------------------------------------------------------------------------
// Globs

test('glob: * matches any run, including empty and colons, anchored at both ends', () => {
  check('*', ['', 'a', 'a:b:c', '\n', '😀'], []);
  check('**', ['', 'anything'], []);
  check('*:end', ['x:end', ':end', 'a:b:end', 'a:end:end'], ['x:end2', 'x:en', 'end']);
  check('a*b*c', ['abc', 'aXbYc', 'abbbc', 'a:b:c', 'acbc'], ['ab', 'abcd', 'xabc', 'acb']);
  check('a**b', ['ab', 'a-b', 'a--b'], ['a', 'b', 'abc']);
  check('pre*mid*', ['premid', 'pre1mid2', 'premidmid'], ['pre', 'prmid', 'xpremid']);
});

test('glob: * matches across line terminators and ? matches one', () => {
  check('a*b', ['a\nb', 'a\r\n\u2028b'], ['a\nc']);
  check('a?b', ['a\nb', 'a\u2029b'], ['a\r\nb']);
});

test('glob: ? and * together', () => {
  check('?*', ['a', 'ab', 'abc'], ['']);
  check('*?', ['a', 'ab'], ['']);
  check('a?*?z', ['abcz', 'axyz', 'aXXXXXz'], ['abz', 'az', 'abcza']);
  check('x:*:??:*', ['x:1:ab:2', 'x::ab:', 'x:a:b:cd:e'], ['x:1:a:2', 'x:1:abc', 'y:1:ab:2']);
});

test('glob: regex metacharacters are literal', () => {
  check('a.b*', ['a.b', 'a.bc'], ['axb', 'axbc']);
  check('a+*', ['a+', 'a+b'], ['a', 'aa', 'aab']);
  check('(x)*', ['(x)', '(x)y'], ['x', 'xy']);
  check('[ab]?', ['[ab]c'], ['ac', 'bc', '[ab]']);
  check('$^*', ['$^', '$^x'], ['', 'x']);
  check('a|b*', ['a|b', 'a|bc'], ['a', 'b', 'bc']);
  check('{1}?', ['{1}x'], ['1x', '{1}']);
  check('\\d?', ['dx'], ['1x', '\\dx']); // \d is an escaped "d", not a digit class
  check('x/*/', ['x/a/', 'x//'], ['x/a', '/x/a/']);
  check('a-b?', ['a-bc'], ['abc']);
  check('^*$', ['^$', '^abc$'], ['abc', '^abc']);
});

test('glob: backslash escapes the next character', () => {
  check('a\\*', ['a*'], ['a', 'ab', 'a\\*', 'a\\']);
  check('a\\**', ['a*', 'a*b', 'a**'], ['a', 'ab', 'a\\b']);
  check('\\?*', ['?', '?x'], ['x', 'xy', '']);
  check('a\\?', ['a?'], ['ab', 'a']);
  check('a\\\\*', ['a\\', 'a\\b', 'a\\\\'], ['a', 'ab', 'ba\\']);
  check('a\\\\?', ['a\\b'], ['a\\', 'ab', 'a\\bc']);
  check('\\\\\\**', ['\\*', '\\*x'], ['\\x', '*x']);
  check('\\a\\b*', ['ab', 'abc'], ['\\a\\b', 'a\\bc']); // escaping an ordinary character yields it
  check('a*\\', ['a\\', 'ab\\'], ['a', 'ab']); // a trailing backslash has nothing to escape
  check('a?\\*?', ['ab*c'], ['abxc', 'ab*', 'ab\\*c']);
});

test('glob: ? matches one code point, so a surrogate pair counts as one', () => {
  const emoji = '😀'; // U+1F600, two UTF-16 code units
  assert.is(emoji.length, 2);
  check('k:?', ['k:' + emoji, 'k:é', 'k:\uD800'], ['k:' + emoji + emoji, 'k:']);
  check('k:??', ['k:' + emoji + emoji, 'k:a' + emoji, 'k:ab'], ['k:' + emoji, 'k:' + emoji + emoji + emoji]);
  check('?x', [emoji + 'x', '𝒜x'], [emoji + emoji + 'x', 'x']);
  check('*?' + emoji, ['a' + emoji, emoji + emoji, 'abc' + emoji], [emoji]);
  check('?*?', [emoji + emoji, 'ab'], [emoji]);
  check(emoji + '*', [emoji, emoji + 'x'], ['x' + emoji]);
  check('\\' + emoji + '?', [emoji + 'a'], ['\\' + emoji + 'a']); // an escaped astral character
});

test('glob: a lone high surrogate never matches half of a surrogate pair', () => {
  // startsWith would say yes here; the code-point semantics say no.
  check('\uD83D*', ['\uD83D', '\uD83Dx'], ['😀', '😀x']);
  check('\uD83D?', ['\uD83Dx'], ['😀']);
});

test('glob: many stars against a long key do not backtrack catastrophically', () => {
  // A naive RegExp translation (^.*a.*a.*a.*a.*a.*a.*b$) takes several seconds on this key (and
  // grows as the sixth power of its length); the compiled glob takes microseconds.
  const p = compilePattern('*a*a*a*a*a*a*b');
  const key = 'a'.repeat(60);
  const start = process.hrtime.bigint();
  assert.not.ok(p.test(key));
  assert.ok(p.test(key + 'b'));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.ok(ms < 500, `took ${ms} ms`);
});

test('glob: agrees with a brute-force reference matcher on random patterns and keys', () => {
  // Reference: match code point by code point, trying every split for `*` (fine for tiny inputs).
  function reference(pattern, key) {
    const p = Array.from(pattern);
    const k = Array.from(key);
    const memo = new Map();
    const go = (i, j) => {
      const id = i * 1000 + j;
      if (memo.has(id)) return memo.get(id);
      let result;
      if (i === p.length) result = j === k.length;
      else if (p[i] === '*') result = go(i + 1, j) || (j < k.length && go(i, j + 1));
      else if (p[i] === '?') result = j < k.length && go(i + 1, j + 1);
      else result = j < k.length && p[i] === k[j] && go(i + 1, j + 1);
      memo.set(id, result);
      return result;
    };
    return go(0, 0);
  }
  // Deterministic PRNG (mulberry32) so a failure is reproducible.
  let seed = 12345;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (items, n) => Array.from({ length: n }, () => items[Math.floor(rand() * items.length)]).join('');
  const patternChars = ['a', 'b', ':', '.', '😀', '\uD83D', '\uDE00', '*', '?', '*', '?'];
  const keyChars = ['a', 'b', ':', '.', '😀', '\uD83D', '\uDE00', 'x'];
  let globs = 0;
  for (let n = 0; n < 3000; n++) {
    const pattern = pick(patternChars, 1 + Math.floor(rand() * 7));
    const p = compilePattern(pattern);
    if (p.kind !== 'glob') continue;
    globs++;
    for (let m = 0; m < 20; m++) {
      const key = pick(keyChars, Math.floor(rand() * 8));
      const expected = reference(pattern, key);
      assert.is(p.test(key), expected, `${JSON.stringify(pattern)} vs ${JSON.stringify(key)}`);
    }
  }
  assert.ok(globs > 1000, `only ${globs} globs generated`);
});

// ---------------------------------------------------------------------------------------------
// Regexes: strings enclosed in slashes (no flags) and RegExp objects (any flags)

test('regex string: a string enclosed in slashes, without flags', () => {
  check('/^user_\\d+$/', ['user_1'], ['user_']);
  check('/a/', ['a', 'xay', '/a/'], ['b', '']);
  check('/^\\/home\\/.+/', ['/home/user'], ['/hom/user']); // escaped slashes in the body
  check('/^[/]x$/', ['/x'], ['x']); // a slash inside a character class
  check('/a[/]b/', ['xa/by'], ['ab']);
  check('/\\\\/', ['a\\b'], ['ab']); // the body is an escaped backslash; the closing slash is not escaped
});

test('RegExp objects: flags are honoured', () => {
  check(/test_.+/i, ['TEST_A', 'test_a', 'xTeSt_1'], ['test_', 'tost_a']);
  check(/x/i, ['x', 'X', 'aXb'], ['y', '']);
  check(/^a.b$/s, ['a\nb', 'axb'], ['a\n\nb']);
  check(/^a.b$/, ['axb'], ['a\nb']);
  check(/^b$/m, ['a\nb\nc'], ['abc']);
  check(/^.$/u, ['😀'], ['ab']);
  check(/^[\p{L}--[a-z]]+$/v, ['ABÉ'], ['AbC', '']);
  check(/a/d, ['xa'], ['x']);
  check(/^x$/dimsu, ['X'], ['xx']);
  check(new RegExp('^/api/v$'), ['/api/v'], ['/api/v1', 'api/v']);
  const p = compilePattern(/x/i);
  assert.is(p.kind, 'regex');
  assert.is(p.source, '/x/i');
});

test('RegExp objects: g and y are dropped, and the caller\'s lastIndex is neither used nor changed', () => {
  const g = /user/g;
  g.lastIndex = 3;
  const p = compilePattern(g);
  for (let n = 0; n < 5; n++) {
    assert.ok(p.test('user'), `call ${n}`);
    assert.ok(p.test('a_user'), `call ${n}`);
  }
  assert.is(g.lastIndex, 3);
  const gi = compilePattern(/^x\d/gi);
  assert.equal([gi.test('X1'), gi.test('X1'), gi.test('x2'), gi.test('x2')], [true, true, true, true]);
  const y = compilePattern(/b/y);
  assert.ok(y.test('ab'));
  assert.ok(y.test('ab'));
  assert.ok(y.test('b'));
});

test('strings never carry flags: /body/flags is a literal key (URL paths such as /api/v)', () => {
  const cases = [
    ['/api/v', 'literal'], // was the regex "api" with the flag v
    ['/img/s', 'literal'], // was the regex "img" with the flag s
    ['/x/i', 'literal'],
    ['/a/gi', 'literal'],
    ['/test_.+/i', 'literal'],
    ['/home/user', 'literal'],
    ['/a/dgimsvy', 'literal'],
  ];
  for (const [pattern, kind] of cases) assertKind(pattern, kind);
  check('/api/v', ['/api/v'], ['/api/users', '/docs/api/intro', 'api', '/api/v1']);
  check('/img/s', ['/img/s'], ['/img/logo.png', 'img']);
  check('/x/i', ['/x/i'], ['x', 'X']);
});

test('which slash-enclosed strings are regexes: a non-empty body with every slash escaped or in a class', () => {
  const cases = [
    ['/', 'literal'], // one character: opens and closes nothing
    ['//', 'literal'], // empty body: would match every key
    ['///', 'literal'], // the body is an unescaped slash
    ['/a/', 'regex'],
    ['/api/v1/', 'literal'], // unescaped slash in the body: a path with a trailing slash
    ['/docs/api/', 'literal'],
    ['/a/b/', 'literal'],
    ['/api\\/v1/', 'regex'], // the same path written as a regex
    ['/[/]/', 'regex'],
    ['/a\\/', 'literal'], // the closing slash is escaped
    ['/[/', 'literal'], // the closing slash is inside an unclosed class
    ['/[a/', 'literal'],
    ['a/b/', 'literal'], // does not start with a slash
    [' /a/', 'literal'],
    ['/a/ ', 'literal'],
    ['/users/*', 'glob'], // "*" after a slash: a glob
    ['/users/?', 'glob'],
    ['/a.b/c*', 'glob'],
    ['/x/*/', 'glob'], // unescaped slash in the body, so not a regex; it has a star: a glob
    ['/a*/', 'regex'], // a regex that happens to contain *
  ];
  for (const [pattern, kind] of cases) assertKind(pattern, kind);
  check('/', ['/'], ['', 'a', '//']);
  check('//', ['//'], ['', 'a', '/']);
  check('/a/', ['a', '/a/', 'bab'], ['b']);
  check('/api/v1/', ['/api/v1/'], ['/api/v1', '/api/v1/users', 'api/v1']);
  check('/users/*', ['/users/', '/users/1', '/users/a/b'], ['users/1', '/user/1']);
  check('/x/*/', ['/x/a/', '/x//'], ['x', '/x/a']);
  check('/[/', ['/[/'], ['[']);
});

test('regex: an invalid body throws InvalidPatternError quoting the pattern, the reason and the fix', () => {
  const error = assertInvalid(() => compilePattern('/(/'), '"/(/"', 'Invalid regular expression', 'literal: true');
  assert.ok(/unterminated group/i.test(error.message), error.message);
  assertInvalid(() => compilePattern('/a**/'), '"/a**/"', 'Nothing to repeat');
  assertInvalid(() => compilePattern('/*/'), '"/*/"');
  assertInvalid(() => compilePattern('/a{2,1}/'), '"/a{2,1}/"');
});

// ---------------------------------------------------------------------------------------------
// Non-string input and literalPattern

test('patterns that are neither strings nor RegExps throw InvalidPatternError', () => {
  for (const value of [undefined, null, 42, true, {}, ['a'], Symbol('s'), 1n, () => 'a']) {
    assertInvalid(() => compilePattern(value), 'must be a string or a RegExp');
    assertInvalid(() => literalPattern(value), 'must be a string');
  }
  assertInvalid(() => compilePattern(null), 'null');
  assertInvalid(() => compilePattern(42), 'the number 42');
  assertInvalid(() => literalPattern(/re/), 'must be a string', '/re/');
});

test('literalPattern: any characters are one literal key', () => {
  for (const key of ['users:*', 'session:?', '/^user_\\d+$/', '/[/', '/a/', 'a\\*b', '', '😀']) {
    const p = literalPattern(key);
    assert.is(p.kind, 'literal');
    assert.is(p.source, key);
    assert.is(p.literal, key);
    assert.ok(p.test(key), key);
  }
  check(literalPattern('users:*'), ['users:*'], ['users:1', 'users:']);
  check(literalPattern('k:?'), ['k:?'], ['k:a']);
  check(literalPattern('/test_.+/'), ['/test_.+/'], ['test_abc']);
});

// ---------------------------------------------------------------------------------------------
// Behaviour of the returned objects

test('test works detached from its pattern object', () => {
  const keys = ['users:1', 'user:2', 'users:3', 'session:a', 'test_x'];
  assert.equal(keys.filter(compilePattern('users:*').test), ['users:1', 'users:3']);
  assert.equal(keys.filter(compilePattern('session:?').test), ['session:a']);
  assert.equal(keys.filter(compilePattern('/\\d$/').test), ['users:1', 'user:2', 'users:3']);
  assert.equal(keys.filter(compilePattern('/test_/').test), ['test_x']);
  assert.equal(keys.filter(compilePattern('user:2').test), ['user:2']);
  assert.equal(keys.filter(compilePattern('*:?').test), ['users:1', 'user:2', 'users:3', 'session:a']);
});

test('compiled patterns are frozen', () => {
  for (const p of [compilePattern('a'), compilePattern('a*'), compilePattern('a?*b'), compilePattern('/a/'), compilePattern(/a/i)]) {
    assert.ok(Object.isFrozen(p));
    assert.throws(() => {
      p.test = () => true;
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Through a store: URL-like keys

const URL_KEYS = ['/api/v', '/api/users', '/docs/api/intro', '/img/s', '/img/logo.png', 'what?', 'whatX'];
let storeCount = 0;
function urlStore() {
  const store = createStore(`patterns-urls-${storeCount++}`);
  for (const k of URL_KEYS) store.set(k, k.length);
  return store;
}
const remaining = (store) => store.listKeys().sort();

test('store: delete("/api/v") deletes exactly that key (it used to delete /api/users, /docs/api/intro, /img/s too)', () => {
  const store = urlStore();
  assert.is(store.delete('/api/v'), true);
  assert.equal(remaining(store), ['/api/users', '/docs/api/intro', '/img/logo.png', '/img/s', 'what?', 'whatX']);
  assert.is(store.delete('/img/s'), true);
  assert.equal(remaining(store), ['/api/users', '/docs/api/intro', '/img/logo.png', 'what?', 'whatX']);
  assert.is(store.delete('/api/v'), false);
  assert.equal(store.listKeys('/api/users'), ['/api/users']);
  assert.equal(store.listKeys('/img/s'), []);
});

test('store: keys /, //, /a/, /api/v1/', () => {
  const store = createStore(`patterns-slashes-${storeCount++}`);
  for (const k of ['/', '//', '/a/', '/api/v1/', 'a', 'xa']) store.set(k, 1);
  assert.equal(store.listKeys('/'), ['/']);
  assert.equal(store.listKeys('//'), ['//']);
  assert.equal(store.listKeys('/api/v1/'), ['/api/v1/']);
  assert.equal(store.listKeys('/a/').sort(), ['/a/', '/api/v1/', 'a', 'xa']); // a regex: every key containing "a"
  assert.is(store.delete('/api/v1/'), true);
  assert.is(store.delete('//'), true);
  assert.is(store.delete('/'), true);
  assert.equal(store.listKeys().sort(), ['/a/', 'a', 'xa']);
  assert.is(store.delete('/a/', { literal: true }), true); // the key "/a/" only
  assert.equal(store.listKeys().sort(), ['a', 'xa']);
  assert.is(store.delete('/a/'), true); // the regex
  assert.equal(store.listKeys(), []);
});

test('store: RegExp objects with flags in delete and listKeys', () => {
  const store = createStore(`patterns-regexp-${storeCount++}`);
  for (const k of ['x', 'X', 'aXb', 'y', '/api/v']) store.set(k, 1);
  assert.equal(store.listKeys(/x/i).sort(), ['X', 'aXb', 'x']);
  assert.equal(store.listKeys(/x/).sort(), ['x']);
  assert.equal(store.listKeys(/^\/api\/v$/), ['/api/v']);
  assert.is(store.delete(/x/i), true);
  assert.equal(store.listKeys().sort(), ['/api/v', 'y']);
  assert.is(store.delete(/nothing/g), false);
  const error = (() => { try { store.delete(/y/, { literal: true }); } catch (e) { return e; } })();
  assert.is(error?.code, 'ERR_KEYSHARE_INVALID_OPTION');
  assert.ok(error.message.includes('options.literal') && error.message.includes('/y/'), error.message);
  const many = (() => { try { store.deleteMany(['y', /y/]); } catch (e) { return e; } })();
  assert.is(many?.code, 'ERR_KEYSHARE_INVALID_KEY');
  assert.ok(many.message.includes('keys[1]') && many.message.includes('delete(pattern)'), many.message);
  assert.equal(store.listKeys().sort(), ['/api/v', 'y']); // deleteMany checked every key first
});

test('store: three ways to delete a key that contains ? or * without touching others', () => {
  const store = urlStore();
  assert.equal(store.listKeys('what?').sort(), ['what?', 'whatX']); // a glob
  assert.is(store.delete('what?', { literal: true }), true);
  assert.equal(store.listKeys('what?'), ['whatX']);
  store.set('what?', 1);
  assert.is(store.delete('what\\?'), true); // an escaped wildcard
  assert.equal(store.listKeys('what?'), ['whatX']);
  store.set('what?', 1);
  assert.is(store.deleteMany(['what?']), 1); // deleteMany keys are literal
  assert.equal(store.listKeys('what?'), ['whatX']);
});

test.run();
