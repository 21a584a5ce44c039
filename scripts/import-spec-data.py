#!/usr/bin/env python3
"""Assembles ttlv/registry/kmip-spec.json from the sources in ../shared (provenance only).

Not run in CI or tests: kmip-spec.json is the committed data source and may be edited by
hand afterwards. Run from the repository root:

    python3 scripts/import-spec-data.py [--spec-dir ../shared/spec] [--pykmip PATH]

Sources, and what each one decides:
- kmip_1_4.json (ThalesGroup kmip-go): the 1.4 tags, enumerations and masks.
- kmip-spec-v1.4.txt: the 1.4 tables, used to cross-check and respell 1.4 names.
- kmip_2_0_additions.json: what 2.0 adds to 1.4 (it never removes; see below).
- kmip-spec-v2.1.txt sections 11 (enumerations, 11.56 tags) and 12 (masks): everything 2.1
  defines; what it marks "(Reserved)" is not defined in 2.1.
- PyKMIP's kmip/core/enums.py: the "# KMIP 1.x" comments give the version that introduced
  a tag or value, and "(Reserved) in KMIP 2.0" notes give removals in 2.0.

Rules (each exception is printed to stderr and listed in the JSON's "source" field):
- A 1.4 item is defined from its PyKMIP version (or, without one, the version that
  introduced its tag) up to 1.4, and in 2.0 and 2.1 if the 2.1 tables still define it.
- An item the 2.1 tables mark "(Reserved)" is taken as removed in 2.0 already (2.1 keeps
  2.0 compatible), except 2.0 additions: those are 2.0 only.
- An item in 2.1 but not in 1.4 is new in 2.0 if the 2.0 additions or PyKMIP say so,
  otherwise new in 2.1.
- When 1.4 and 2.1 spell a name so that it normalises differently, there are two entries.
"""
import argparse
import json
import re
import sys
from pathlib import Path

V = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1']
V1 = V[:5]
WARNINGS = []


def warn(message):
    WARNINGS.append(message)
    print('note: ' + message, file=sys.stderr)


# ---- the CamelCase rule (a copy of ttlv/registry/normalize.ts, to compare spellings) ----

def normalize(name):
    s = re.sub(r'[()]', ' ', name)
    s = re.sub(r'[^A-Za-z0-9_]([A-Za-z][a-z])', r' \1', s)
    words = [re.sub(r'[^A-Za-z0-9_]', '_', w) for w in s.split()]
    if not words:
        return ''
    words[0] = re.sub(r'^(\d+)(.*)$', r'\2\1', words[0])
    return ''.join(w[0].upper() + w[1:] for w in words)


def key(name):
    return re.sub(r'[^a-z0-9]', '', name.lower())


def clean(s):
    for a, b in (('\u00a0', ' '), ('\ufffd', ' '), ('\u2019', "'"), ('\u2013', '-'), ('\u2014', '-')):
        s = s.replace(a, b)
    return re.sub(r'\s+', ' ', s).strip()


# ---- the specification text: tables come out as cells separated by "|" lines ----

def sections(path, heading, start_pattern, end_pattern):
    raw = Path(path).read_text(encoding='utf-8', errors='replace').replace('\r', '').split('\n')
    lines = []
    i = 0
    while i < len(raw):
        # A heading number or "Table" alone on a line belongs to the next line.
        if re.match(r'^\s*(\d+(\.\d+)+|Table)\s*$', raw[i]) and i + 1 < len(raw):
            lines.append(raw[i].strip() + ' ' + raw[i + 1].strip())
            i += 2
            continue
        lines.append(raw[i])
        i += 1
    begin = next(i for i, l in enumerate(lines) if re.match(start_pattern, l.strip()) and i > 1000)
    end = next(i for i, l in enumerate(lines) if re.match(end_pattern, l.strip()) and i > begin)
    out = []
    for line in lines[begin:end]:
        m = re.match(heading, line.strip())
        if m:
            out.append({'title': clean(m.group(2)), 'cells': [], 'acc': []})
            continue
        if not out:
            continue
        sec = out[-1]
        if re.match(r'^Table \d+: ', line.strip()):
            sec['cells'].append('<END>')
            sec['acc'] = []
        elif line.strip() == '|':
            sec['cells'].append(clean(' '.join(sec['acc'])))
            sec['acc'] = []
        else:
            sec['acc'].append(line)
    return out


def name_value_rows(cells):
    rows = []
    k = 0
    while k < len(cells) - 1:
        if (cells[k], cells[k + 1]) in (('Name', 'Value'), ('Object', 'Tag Value')):
            k += 2
            while k < len(cells) - 1 and '<END>' not in (cells[k], cells[k + 1]):
                rows.append((cells[k], cells[k + 1]))
                k += 2
        k += 1
    return rows


def parse_rows(rows, digits):
    """(name, value) for defined rows; (Reserved), Extensions and ranges are skipped."""
    defined, reserved = [], set()
    for name, value in rows:
        m = re.match(r'^(?:0x)?([0-9A-Fa-f]{%d})(?:\s*\((deprecated)[^)]*\))?$' % digits, value)
        if not m:
            continue
        number = int(m.group(1), 16)
        if name == '(Reserved)' or name == 'Reserved':
            reserved.add(number)
        else:
            defined.append((name, number))
    return defined, reserved


def spec_tables(path, version):
    if version == '2.1':
        secs = sections(path, r'^(1[12]\.\d+) (.*)$', r'^11 Enumerations$', r'^13 ')
    else:
        secs = sections(path, r'^(9\.1\.3(?:\.[123])?(?:\.\d+)?) (.*)$', r'^9\.1\.3\.1 Tags$', r'^10 Transport')
    tables = {}
    for sec in secs:
        title = re.sub(r'\s*(Enumeration|enumerations)\s*$', '', sec['title'])
        rows = name_value_rows(sec['cells'])
        if not rows:
            continue
        if title in ('Tag', 'Tags'):
            tables['#tags'] = parse_rows(rows, 6)
        else:
            tables[title] = parse_rows(rows, 8)
    return tables


# ---- PyKMIP: "# KMIP 1.x" comments ----

def pykmip_versions(path):
    classes = {}
    current = None
    for line in Path(path).read_text().split('\n'):
        m = re.match(r'^class (\w+)\(', line)
        if m:
            current = {'intro': None, 'values': {}}
            classes[key(m.group(1))] = current
            continue
        if current is None:
            continue
        m = re.match(r'^\s*# KMIP (\d\.\d)(.*)$', line)
        if m:
            current['intro'] = m.group(1)
            if 'Reserved' in m.group(2) and 'above' in m.group(2):
                for v in current['values'].values():
                    v['reserved20'] = True
            continue
        m = re.match(r'^\s*\w+\s*=\s*0x([0-9A-Fa-f]+)(.*)$', line)
        if m and current['intro'] is not None:
            current['values'].setdefault(int(m.group(1), 16), {
                'intro': current['intro'],
                'reserved20': "'(Reserved)' in KMIP 2.0" in m.group(2) and 'not deprecated' not in m.group(2),
            })
    return classes


# ---- assembling ----

def num(v):
    return int(v, 16) if isinstance(v, str) else v


def since(first, last='1.4'):
    return V[V.index(first):V.index(last) + 1]




def build(args):
    spec_dir = Path(args.spec_dir)
    j14 = json.loads((spec_dir / 'kmip_1_4.json').read_text())
    j20 = json.loads((spec_dir / 'kmip_2_0_additions.json').read_text())
    s14 = spec_tables(spec_dir / 'kmip-spec-v1.4.txt', '1.4')
    s21 = spec_tables(spec_dir / 'kmip-spec-v2.1.txt', '2.1')
    py = pykmip_versions(args.pykmip)

    tags = build_tags(j14, j20, s14, s21, py)
    tag_intro = {}
    for t in tags:
        tag_intro.setdefault(t['name'], t['versions'][0])
    groups = {}
    for kind in ('enums', 'masks'):
        groups[kind] = build_groups(kind, j14, j20, s14, s21, py, tag_intro)
    return tags, groups


def build_tags(j14, j20, s14, s21, py):
    a = {num(v): clean(n) for n, v in j14['tags'].items()}
    b = {num(v): clean(n) for n, v in j20['tags'].items()}
    t14 = dict((v, n) for n, v in s14['#tags'][0])
    defined21, _reserved21 = s21['#tags']
    t21 = dict((v, n) for n, v in defined21)
    pyt = py['tags']['values']
    out = []
    for value in sorted(set(a) | set(b) | set(t21)):
        name14 = a.get(value)
        if name14 is not None and value in t14 and normalize(t14[value]) != normalize(name14):
            warn(f'tag 0x{value:06X}: 1.4 json "{name14}" vs 1.4 spec "{t14[value]}"')
        if value in a:
            info = pyt.get(value)
            if info is None:
                warn(f'tag 0x{value:06X} {name14}: no PyKMIP version; taken as 1.4')
            first = info['intro'] if info else '1.4'
            in2x = value in t21
            if info and info['reserved20'] == in2x:
                warn(f'tag 0x{value:06X} {name14}: PyKMIP and 2.1 disagree on removal in 2.0')
            entries = [(name14, since(first))]
            if in2x:
                entries.append((t21[value], ['2.0', '2.1']))
        elif value in b:
            if b[value] == 'Reserved':
                warn(f'tag 0x{value:06X}: the 2.0 additions list "Reserved" (2.1 too); not a tag, left out')
                continue
            entries = [(b[value], ['2.0'])]
            if value in t21:
                entries.append((t21[value], ['2.1']))
            else:
                warn(f'tag 0x{value:06X} {b[value]}: 2.0 addition not in the 2.1 table')
        else:
            first = '2.0' if value in pyt else '2.1'
            entries = [(t21[value], ['2.0', '2.1'] if first == '2.0' else ['2.1'])]
        out.extend(merge(entries, f'tag 0x{value:06X}', 'value', f'0x{value:06X}'))
    return out


def merge(entries, where, value_key, value_text):
    """[(name, versions)] of one value -> JSON entries, one per distinct normalised name.

    The spelling of the newest version wins among names that normalise alike.
    """
    by_norm = {}
    for name, versions in entries:
        slot = by_norm.setdefault(normalize(name), {'names': [], 'versions': set()})
        slot['names'].append(name)
        slot['versions'].update(versions)
    slots = sorted(by_norm.values(), key=lambda s: min(V.index(v) for v in s['versions']))
    if len(slots) > 1:
        warn(f'{where}: renamed between versions: ' + ' / '.join(s['names'][-1] for s in slots))
    out = []
    for slot in slots:
        entry = {'name': slot['names'][-1], value_key: value_text, 'versions': [v for v in V if v in slot['versions']]}
        fixed = [f'"{a}" in a source is read as "{b}"' for a, b in FIXED if b in slot['names']]
        notes = []
        if len(slots) > 1:
            notes.append('spelt so in ' + ', '.join(entry['versions']) + '; the other versions spell it '
                         + ' / '.join(f'"{s["names"][-1]}"' for s in slots if s is not slot))
        notes.extend(sorted(fixed))
        if notes:
            entry['note'] = '; '.join(notes)
        out.append(entry)
    return out


# Spellings the text extraction or the specification got wrong, and why.
TEXT_FIXES = {
    # The PDF-to-text extraction lost the superscripts of GF(2^16) and GF(2^8).
    'Polynomial Sharing GF (216)': 'Polynomial Sharing GF (2^16)',
    'Polynomial Sharing GF (28)': 'Polynomial Sharing GF (2^8)',
    # A typo of KMIP 2.1 (11.30); 2.0 and 1.4 say MGF1, and so do the 2.x test cases.
    'MFG1': 'MGF1',
    # kmip_2_0_additions.json spells 0x39 the American way; the 2.1 text says "Not Authorised"
    # and no 2.0 text is at hand to show a rename, so 2.0 takes the specification's spelling.
    'Not Authorized': 'Not Authorised',
}
FIXED = set()


def fix(name):
    if name in TEXT_FIXES:
        FIXED.add((name, TEXT_FIXES[name]))
        return TEXT_FIXES[name]
    return name


def find_table(tables, name):
    k = key(name)
    hits = [t for t in tables if t != '#tags' and (key(t) == k or k.startswith(key(t)) or key(t).startswith(k))]
    exact = [t for t in hits if key(t) == k]
    if exact:
        return tables[exact[0]]
    if len(hits) == 1:
        return tables[hits[0]]
    return None


# Tags whose Enumeration values an enumeration holds, where the 1.4/2.0 json files give
# none or a wrong list (the enumeration's own tag is the default).
GROUP_TAGS = {
    'Hashing Algorithm': ['Hashing Algorithm', 'Mask Generator Hashing Algorithm'],
    # 11.23: Extension Type is "Enumeration (Item Type)" in 2.x.
    'Item Type': ['Extension Type'],
    # 2.x: every unique identifier field may hold an ID Placeholder style value.
    'Unique Identifier': ['Unique Identifier'],
}


def build_groups(kind, j14, j20, s14, s21, py, tag_intro):
    a = {e['name']: e for e in j14.get(kind, [])}
    b = {e['name']: e for e in j20.get(kind, [])}
    names = list(a) + [n for n in b if n not in a]
    if kind == 'enums':
        for extra in ('Item Type', 'Processing Stage', 'Rotate Name Type'):
            if find_table(s21, extra) is not None and extra not in names:
                names.append(extra)
    out = []
    for gname in sorted(names):
        out.append(build_group(gname, a.get(gname), b.get(gname), find_table(s14, gname),
                               find_table(s21, gname), py.get(key(gname)), tag_intro))
    if kind == 'enums':
        # 2.x 11.56: the Tag Enumeration is the tag table; Attribute Reference (5.5) is an
        # "Enumeration (Tag)". The generator fills its values in from "tags".
        out.append({'name': 'Tag', 'tags': ['Attribute Reference'], 'valuesFrom': 'tags',
                    'note': 'values are the tags defined in 2.0/2.1, written as Enumeration values'})
        out.sort(key=lambda g: g['name'])
    return out


def pkcs11_values(gname, headers):
    """KMIP 2.x 11.38/11.39 delegate these two enumerations to PKCS#11 v3.0: a function is its
    1-based position in CK_FUNCTION_LIST_3_0, a return code its CK_RV value. NSS's headers
    list the functions in structure order (pkcs11f.h) and the CKR_ values (pkcs11t.h). The
    return codes are named without "CKR_", as the OASIS 2.x test cases write them ("OK")."""
    out = []
    if gname == 'PKCS#11 Function':
        text = (headers / 'pkcs11f.h').read_text()
        names = re.findall(r'CK_PKCS11_FUNCTION_INFO\((C_\w+)\)', text)
        out = [(n, i + 1) for i, n in enumerate(names)]
    else:
        seen = set()
        for n, v in re.findall(r'^#define CKR_(\w+)\s+(0x[0-9A-Fa-f]+)UL', (headers / 'pkcs11t.h').read_text(), re.M):
            v = int(v, 16)
            if v >= 0x80000000 or v in seen:
                continue
            seen.add(v)
            out.append((n, v))
    return [{'name': n, 'value': f'0x{v:08X}', 'versions': ['2.0', '2.1']} for n, v in sorted(out, key=lambda x: x[1])]


def build_group(gname, a, b, t14, t21, pyc, tag_intro):
    tag_names = GROUP_TAGS.get(gname) or (a or b or {}).get('tags') or [gname]
    if gname.startswith('PKCS#11 ') and ARGS.pkcs11_headers:
        return {'name': gname, 'tags': tag_names, 'values': pkcs11_values(gname, Path(ARGS.pkcs11_headers))}
    first_tag = min((tag_intro[t] for t in tag_names if t in tag_intro), key=V.index, default='2.1')
    av = {num(v): clean(n) for n, v in (a or {}).get('values', {}).items()}
    bv = {num(v): fix(clean(n)) for n, v in ((b or {}).get('values') or {}).items()}
    sv14 = {v: n for n, v in (t14[0] if t14 else [])}
    if t21 is None:
        warn(f'{gname}: no 2.1 table; the 1.4/2.0 lists are taken as they are')
        d21 = dict(bv) or dict(av)
    else:
        d21 = {v: fix(n) for n, v in t21[0]}
    pyv = (pyc or {}).get('values', {})
    values = []
    for value in sorted(set(av) | set(bv) | set(d21)):
        where = f'{gname} 0x{value:08X}'
        if value in av:
            name14 = av[value]
            if value in sv14:
                if normalize(fix(sv14[value])) != normalize(name14):
                    warn(f'{where}: 1.4 json "{name14}" vs 1.4 spec "{sv14[value]}": the spec wins')
                name14 = fix(sv14[value])
            info = pyv.get(value)
            first = info['intro'] if info else first_tag
            if info is None:
                warn(f'{where} {name14}: no PyKMIP version; taken from its tag ({first_tag})')
            if V.index(first) < V.index(first_tag):
                warn(f'{where} {name14}: PyKMIP says {first}, before its tag ({first_tag}); tag wins')
                first = first_tag
            entries = [(name14, since(first))]
            if value in d21:
                entries.append((d21[value], ['2.0', '2.1']))
                if info and info['reserved20']:
                    warn(f'{where} {name14}: PyKMIP says reserved in 2.0 but 2.1 defines it')
            elif info and not info['reserved20']:
                warn(f'{where} {name14}: reserved in 2.1; PyKMIP has no 2.0 note; taken as removed in 2.0')
        elif value in bv:
            entries = [(bv[value], ['2.0'])]
            if value in d21:
                entries.append((d21[value], ['2.1']))
            else:
                warn(f'{where} {bv[value]}: 2.0 addition, reserved in 2.1: 2.0 only')
        else:
            info = pyv.get(value)
            first = '2.0' if (info and info['intro'] == '2.0') else '2.1'
            if first_tag == '2.1':
                first = '2.1'
            entries = [(d21[value], since(first, '2.1'))]
        values.extend(merge(entries, where, 'value', f'0x{value:08X}'))
    return {'name': gname, 'tags': tag_names, 'values': values}


# ---- writing: one entry a line, so a diff shows what changed ----

def dump(doc):
    def line(obj):
        return json.dumps(obj, ensure_ascii=True)
    out = ['{']
    out.append('  "source": [')
    out.append(',\n'.join('    ' + line(x) for x in doc['source']))
    out.append('  ],')
    out.append('  "tags": [')
    out.append(',\n'.join('    ' + line(t) for t in doc['tags']))
    out.append('  ],')
    for kind in ('enums', 'masks'):
        out.append(f'  "{kind}": [')
        blocks = []
        for g in doc[kind]:
            head = {k: v for k, v in g.items() if k != 'values'}
            inner = line(head)[1:-1]
            if 'values' not in g:
                blocks.append('    {' + inner + '}')
                continue
            body = ',\n'.join('        ' + line(v) for v in g['values'])
            blocks.append('    {' + inner + ', "values": [\n' + body + ('\n' if body else '') + '    ]}')
        out.append(',\n'.join(blocks))
        out.append('  ],' if kind == 'enums' else '  ]')
    out.append('}')
    return '\n'.join(out) + '\n'


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--spec-dir', default='../shared/spec')
    parser.add_argument('--pykmip', default='/usr/lib/python3/dist-packages/kmip/core/enums.py')
    parser.add_argument('--out', default='ttlv/registry/kmip-spec.json')
    parser.add_argument('--pkcs11-headers', default='/usr/include/nss')
    args = parser.parse_args()
    global ARGS
    ARGS = args
    tags, groups = build(args)
    decisions = [w for w in WARNINGS if 'renamed between versions' not in w]
    doc = {'source': SOURCE + ['Decisions: ' + w for w in decisions],
           'tags': tags, 'enums': groups['enums'], 'masks': groups['masks']}
    Path(args.out).write_text(dump(doc))


SOURCE = [
    'Built by scripts/import-spec-data.py; entries may be edited by hand afterwards (then say why in a "note").',
    'Sources: kmip_1_4.json and kmip_2_0_additions.json (ThalesGroup/kmip-go, see ../shared/spec/SOURCES.tsv);'
    ' the 1.4 tables (9.1.3) and 2.1 tables (11, 11.56, 12) of the OASIS specification texts in ../shared/spec;'
    ' PyKMIP kmip/core/enums.py (Debian python3-pykmip) for the version that introduced each 1.x tag and value;'
    ' NSS pkcs11f.h/pkcs11t.h for the PKCS#11 v3.0 function order and CK_RV values (KMIP 2.x 11.38/11.39).',
    'Versions: a 1.4 item is defined from the version PyKMIP gives (else the version its tag appeared in) to 1.4,'
    ' and in 2.0 and 2.1 unless the 2.1 tables mark it (Reserved); an item reserved in 2.1 is taken as removed in'
    ' 2.0 already, except 2.0 additions reserved in 2.1 (2.0 only). An item new after 1.4 is 2.0 if'
    ' kmip_2_0_additions.json or PyKMIP says so, else 2.1.',
    'Names: the specification text of each version; where two versions spell a value so that it normalises'
    ' differently there is one entry per spelling with disjoint versions. 1.0-1.3 spellings are taken to equal 1.4'
    ' (no 1.0-1.3 text was at hand).',
    'The enumeration "Tag" (valuesFrom "tags") is the tag table as Enumeration values, for Attribute Reference (2.x).',
    'Checked against every element, Enumeration name and mask name of the OASIS XML test cases v1.0-v2.1'
    ' (ttlv/registry/registry.test.ts).',
]
ARGS = None

if __name__ == '__main__':
    main()
