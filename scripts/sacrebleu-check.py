#!/usr/bin/env python3
"""sacreBLEU's own chrF++ and BLEU for the pairs ko2en's metrics are tested on, and for a
results file `ko2en eval` scored, so the two can be compared.

Install sacreBLEU first (it is not needed by ko2en itself):
    python3 -m venv /tmp/sb && /tmp/sb/bin/pip install sacrebleu==2.6.0
Usage:
    /tmp/sb/bin/python scripts/sacrebleu-check.py                 # the unit-test pairs
    /tmp/sb/bin/python scripts/sacrebleu-check.py results.jsonl   # a translate run with references
"""
import json
import sys

from sacrebleu.metrics import BLEU, CHRF

chrf = CHRF(word_order=2)
bleu = BLEU()
sentence = BLEU(effective_order=True)

if len(sys.argv) == 1:
    ref = "The government said exports rose 3.5% this year, led by semiconductors."
    hyp = "Exports grew 3.5% this year, the government said, driven by chips."
    print(f"pair        chrF++ {chrf.sentence_score(hyp, [ref]).score:.4f}  sentence BLEU {sentence.sentence_score(hyp, [ref]).score:.4f}")
    hyps = [hyp, "Chip exports hit a record."]
    refs = [ref, "Semiconductor exports reached a record high."]
    print(f"corpus      chrF++ {chrf.corpus_score(hyps, [refs]).score:.4f}  BLEU {bleu.corpus_score(hyps, [refs]).score:.4f}")
    sys.exit(0)

hyps, refs = [], []
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    ref = (r.get("meta") or {}).get("en_reference")
    if ref is None or r.get("translation_en") is None:
        continue
    hyps.append(r["translation_en"])
    refs.append(ref)
for i, (h, r) in enumerate(zip(hyps, refs)):
    if i < 5:
        print(f"article {i + 1}: chrF++ {chrf.sentence_score(h, [r]).score:.4f}  BLEU {sentence.sentence_score(h, [r]).score:.4f}")
print(f"corpus of {len(hyps)}: chrF++ {chrf.corpus_score(hyps, [refs]).score:.4f}  BLEU {bleu.corpus_score(hyps, [refs]).score:.4f}")
