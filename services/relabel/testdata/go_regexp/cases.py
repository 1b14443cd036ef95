"""Random relabel regex cases for ../go_regexp.golden, answered by Go's regexp.

Why: the `regex` crate is not Go's regexp; this corpus pins the translation layer to Go
1.19 (the Go that built Prometheus 2.42). Regenerate with Debian's golang-go 1.19:

    python3 cases.py gen > /tmp/cases.jsonl
    go run expect.go < /tmp/cases.jsonl > /tmp/go.out
    python3 cases.py golden /tmp/cases.jsonl /tmp/go.out > ../go_regexp.golden

then run `cargo test -p tachyscale-relabel --test conformance`; drop any case that fails
only because of a documented deviation (the compiled-size limit) and say so in the header.
"""
import json
import random
import sys

TOKENS_BASIC = ['a', 'b', 'c', '.', r'\d', r'\D', r'\w', r'\W', r'\s', r'\S', r'\b', r'\B', '[a-c]',
    '[^a]', r'[\d_]', r'[^\w]', '(', ')', '(', ')', '(?:', '(?i)', '(?s)', '(?m)', '(?U)', '(?P<n>',
    '(?P<1x>', '|', '*', '+', '?', '*?', '{2}', '{1,}', '{0,2}', r'\Q.*\E', r'\x41', r'\101',
    '[[:alpha:]]', '[[:^digit:]]', r'\pL', r'\p{Greek}', r'\PL', r'\pN', 'é', '١', '^', '$', '{',
    '}', '{,2}', '[&&]', '[a-]', r'\.', r'\<', '[]a]', '[[a]', '[a--b]', '[a~~b]', r'\A', r'\z',
    r'\n', 'Σ', 'K', ' ', '-', ':', ';', r'\pC', '[\\p{Greek}a]', '(?i:Σ)', '(?i)k']
TOKENS_EDGE = ['a', 'b', 'k', '.', r'\d', r'\w', r'\s', r'\b', r'\0', r'\8', r'\07', r'\x{41}',
    r'\x{0000000041}', r'\x{110000}', r'\x4', '(?i-s:', '(?-U)', '(?U)', '*?', '+?', '??',
    r'\p{^Greek}', r'\P{^L}', r'\p{Cs}', r'\P{Cs}', r'\PC', '{1000}', '{1001}', '{2}', '{,}',
    '{1,2}', '{2,1}', '[\\x{10}-\\x{7F}]', r'[^\n]', '(?P<n>', '(?P<n>', '(', ')', ')', '|', r'\Q',
    r'\E', '\\', '[:alpha:]', '[[:foo:]]', r'[a-\d]', r'\pZ', r'\p{Latin}', r'\p{Han}', r'\p{Any}',
    r'\p{L}', '(?i)Σ', '(?i)σ', '(?i)[k]', '(?i)ſ', '(?i)[^k]', '[a-z&&[^x]]', '(?P<>', '(?P<a',
    '(?P=n)', '(?#c)', '(?x)', '(?', '(?-)', '(?i-)', '(?:', '*', '+', '?', '$', '^', '(?m)^',
    '(?m)$', r'\z', r'\A', r'\C', r'\pN', '[[:word:]]', '[[:^space:]]', r'[\pL\d]', r'[\P{L}]',
    r'\v', r'\a', r'\f']
HAY_BASIC = list('abc1_ é١\nΣσςKk.*A<[&-~];:{}٣') + ['\u212a']
HAY_EDGE = list('abkK') + ['\u212a', 'ſ', 's', 'S', '1', '_', ' ', 'é', '١', '\n', 'Σ', 'σ', 'ς',
    'A', '\x00', '\x07', '\x0b', '\x0c', '7', '\u3000', '中', '\U0001F600', '\u2028', 'x']
TOKENS_FLAGS = ['a', 'b', '(?i)', '(?U)', '(?-U)', '(?s)', '(?)', '*', '+', '?', '*?', '??', '{2}',
    '{1,2}?', '(', ')', '(?:', '|', '\\Qxy\\E', '[ab]', '.', '^', '$', '\\d', '(?P<n>', '\\pL']
HAY_FLAGS = list('abAB1x\n')
TEMPLATES = ['$1', '${1}x', '$1x', '$n', '$0', '$$', '${n}', '$2-$1', '$1x$2', 'x$', '${1', '$01',
    '$1é', '[$1][$2][$3]', '$name']


def gen():
    corpora = [(7, TOKENS_BASIC, HAY_BASIC, 6, 40000), (11, TOKENS_EDGE, HAY_EDGE, 5, 40000),
               (99, TOKENS_FLAGS, HAY_FLAGS, 7, 20000)]
    for corpus, (seed, tokens, hay, max_len, count) in enumerate(corpora):
        rng = random.Random(seed)
        for _ in range(count):
            p = ''.join(rng.choice(tokens) for _ in range(rng.randint(0, max_len)))
            for _ in range(3):
                h = ''.join(rng.choice(hay) for _ in range(rng.randint(0, max_len)))
                print(json.dumps({'c': corpus, 'p': p, 'h': h, 't': rng.choice(TEMPLATES)}))


def yaml_str(s):
    """A YAML double-quoted scalar that survives libyaml (no raw U+2028, no surrogates)."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append('\\' + ch)
        elif 0x20 <= o < 0x7f:
            out.append(ch)
        elif o <= 0xFFFF:
            out.append('\\u%04X' % o)
        else:
            out.append('\\U%08X' % o)
    return '"' + ''.join(out) + '"'


def golden(cases_path, answers_path):
    rng = random.Random(3)
    cases = [json.loads(l) for l in open(cases_path)]
    answers = [json.loads(l) for l in open(answers_path)]
    pick = []
    for corpus in sorted({c['c'] for c in cases}):
        pairs = [(c, a) for c, a in zip(cases, answers) if c['c'] == corpus]
        matched = [x for x in pairs if not x[1]['err'] and x[1]['m']]
        unmatched = [x for x in pairs if not x[1]['err'] and not x[1]['m']]
        invalid = [x for x in pairs if x[1]['err']]
        pick += rng.sample(matched, 400) + rng.sample(unmatched, 250) + rng.sample(invalid, 150)
    for c, a in pick:
        x = 'null' if a['x'] is None else yaml_str(a['x'])
        print('- {p: %s, h: %s, t: %s, err: %s, m: %s, x: %s}' % (
            yaml_str(c['p']), yaml_str(c['h']), yaml_str(c['t']),
            str(a['err']).lower(), str(a['m']).lower(), x))


if __name__ == '__main__':
    if sys.argv[1:2] == ['gen']:
        gen()
    else:
        golden(sys.argv[2], sys.argv[3])
