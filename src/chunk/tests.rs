//! Unit tests of chunking: the reconstruction contract, balanced sizes, sentence
//! segmentation and the Korean news corpus in tests/data.

use std::ops::Range;

use super::*;

fn o200k() -> TokenCounter {
    TokenCounter::new(Encoding::O200kBase)
}

/// (id, text) of every article of tests/data/ko-news.jsonl (see its README for licences).
fn corpus() -> Option<Vec<(String, String)>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ko-news.jsonl");
    let data = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        out.push((v["id"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string()));
    }
    Some(out)
}

/// Checks the reconstruction contract and returns each chunk's byte range in `text`.
fn locate(text: &str, chunks: &[Chunk]) -> Vec<Range<usize>> {
    let mut pos = 0;
    let mut ranges = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        assert!(!c.text.is_empty());
        assert_eq!(c.text, c.text.trim(), "chunk has outer whitespace");
        let rest = &text[pos..];
        let gap_len = rest.len() - rest.trim_start().len();
        let gap = &rest[..gap_len];
        assert!(rest[gap_len..].starts_with(&c.text), "lost or reordered text at chunk {i}");
        let expected = if i == 0 {
            ""
        } else if gap.contains('\n') {
            "\n"
        } else if gap.is_empty() {
            ""
        } else {
            " "
        };
        assert_eq!(c.joiner, expected, "joiner of chunk {i}");
        let s = pos + gap_len;
        ranges.push(s..s + c.text.len());
        pos = s + c.text.len();
    }
    assert!(text[pos..].trim().is_empty(), "text lost at the end");
    // And the documented identity, stated independently.
    let mut normalized = String::new();
    let mut prev = 0;
    for (r, c) in ranges.iter().zip(chunks) {
        if prev > 0 {
            normalized.push_str(c.joiner);
        }
        normalized.push_str(&text[r.clone()]);
        prev = r.end;
    }
    assert_eq!(join(chunks), normalized);
    assert!(join(chunks).len() <= text.trim().len());
    ranges
}

/// Byte ranges of all sentences of `text` (every line).
fn all_sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut off = 0;
    for line in text.split('\n') {
        out.extend(sentence_ranges(line).into_iter().map(|r| off + r.start..off + r.end));
        off += line.len() + 1;
    }
    out
}

#[test]
fn corpus_properties() {
    let Some(articles) = corpus() else { return };
    let counter = o200k();
    let mut worst = (1.0f64, String::new());
    let mut multi = 0;
    let mut below_half = 0;
    let mut min_pair = (f64::INFINITY, String::new());
    let mut per_limit = std::collections::BTreeMap::new();
    for &max in &[30usize, 100, 400, 2000] {
        for (id, text) in &articles {
            let chunks = split(text, max, counter);
            assert!(!chunks.is_empty(), "{id}");
            let ranges = locate(text, &chunks);
            for c in &chunks {
                assert_eq!(c.tokens, counter.count(&c.text), "{id}");
                assert!(c.tokens <= max, "{id} max={max}: chunk of {} tokens", c.tokens);
            }
            let total = counter.count(text.trim());
            if total <= max {
                assert_eq!(chunks.len(), 1, "{id}: fitting text split");
            }
            // No cut inside a sentence that fits on its own.
            let sents = all_sentences(text);
            for r in ranges.iter().skip(1) {
                let cut = r.start;
                for s in &sents {
                    if s.start < cut && cut < s.end {
                        let t = counter.count(&text[s.clone()]);
                        assert!(t > max, "{id} max={max}: cut inside a {t}-token sentence");
                    }
                }
            }
            // Minimal count: never more chunks than greedy packing of whole text would
            // need plus one (the estimate may force one extra in rare cases).
            // Minimal count: no two neighbours would fit together (else k-1 chunks would
            // do). The partition works on estimates, so allow a token of slack.
            for w in chunks.windows(2) {
                let both = counter.count(&format!("{}{}{}", w[0].text, w[1].joiner, w[1].text));
                let slack = max / 10 + 2;
                assert!(
                    both + slack > max,
                    "{id} max={max}: neighbours {} + {} = {both} fit in one",
                    w[0].tokens,
                    w[1].tokens
                );
                let r = both as f64 / max as f64;
                if r < min_pair.0 {
                    min_pair = (r, format!("{id} max={max} both={both}"));
                }
            }
            if chunks.len() > 1 {
                multi += 1;
                *per_limit.entry(max).or_insert((0, 0, 0)) = {
                    let e = per_limit.get(&max).copied().unwrap_or((0, 0, 0));
                    let mn = chunks.iter().map(|c| c.tokens).min().unwrap() as f64;
                    let mx = chunks.iter().map(|c| c.tokens).max().unwrap() as f64;
                    (e.0 + 1, e.1 + usize::from(mn / mx < 0.3), e.2 + usize::from(mn / mx < 0.5))
                };
                let mn = chunks.iter().map(|c| c.tokens).min().unwrap() as f64;
                let mx = chunks.iter().map(|c| c.tokens).max().unwrap() as f64;
                let ratio = mn / mx;
                if ratio < 0.5 {
                    below_half += 1;
                }
                if ratio < worst.0 {
                    worst = (
                        ratio,
                        format!(
                            "{id} max={max} sizes={:?}",
                            chunks.iter().map(|c| c.tokens).collect::<Vec<_>>()
                        ),
                    );
                }
            }
        }
    }
    eprintln!("multi-chunk splits: {multi}, ratio<0.5: {below_half}, worst: {worst:?}");
    eprintln!("tightest neighbour pair (joined tokens / max): {min_pair:?}");
    eprintln!("per limit (splits, ratio<0.3, ratio<0.5): {per_limit:?}");
    // Balance (min/max chunk tokens). With sentence-sized units a short paragraph between
    // two near-limit sentences is unavoidable at small limits (e.g. [16, 89, 60, 80, 86] at
    // 100, where 16 + the next 89-token sentence > 100), so: at realistic limits always
    // >= 0.3, and overall rarely below it. Measured: 5 of 695 splits below 0.3, all at 30/100.
    for (&max, &(splits, below_03, _)) in &per_limit {
        if max >= 400 {
            assert_eq!(below_03, 0, "max={max}");
        }
        assert!(below_03 * 20 <= splits, "max={max}: {below_03} of {splits} below 0.3");
    }
}

#[test]
fn empty_and_fitting() {
    let c = o200k();
    assert!(split("", 10, c).is_empty());
    assert!(split("  \n\n ", 10, c).is_empty());
    let one = split("\n 오늘은 맑다. 내일은 비가 온다.\n", 100, c);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].text, "오늘은 맑다. 내일은 비가 온다.");
    assert_eq!(one[0].joiner, "");
}

#[test]
fn odd_inputs_do_not_panic() {
    let c = o200k();
    for text in
        ["가.\r\n나.\r\n\r\n다.", "...!!!???", "한국어😀이모지😀문장😀입니다.", "a\u{3000}b\u{a0}c. 끝."]
    {
        for max in [0usize, 1, 2, 3, 5, 50] {
            let chunks = split(text, max, c);
            locate(text, &chunks);
            if max >= 4 {
                assert!(chunks.iter().all(|ch| ch.tokens <= max), "{text:?} {max}");
            }
        }
    }
    let crlf = split("가.\r\n나.", 1, c);
    assert!(crlf.iter().all(|ch| !ch.text.ends_with('\r')));
}

#[test]
fn balanced_not_greedy() {
    // Ten equal paragraphs that need 2 chunks: greedy would give 9+1 at a limit of 9
    // paragraphs; we expect 5+5.
    let para = "정부는 오늘 새로운 경제 정책을 발표했다.";
    let t = o200k().count(para) + 1;
    let text = [para; 10].join("\n");
    let chunks = split(&text, 9 * t, o200k());
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].text.lines().count(), 5);
    assert_eq!(chunks[1].joiner, "\n");
    locate(&text, &chunks);
}

#[test]
fn prefers_paragraph_cut() {
    let a = "첫째 문단의 첫 문장이다. 첫째 문단의 둘째 문장이다.";
    let b = "둘째 문단의 첫 문장이다. 둘째 문단의 둘째 문장이다. 셋째 문장이다.";
    let text = format!("{a}\n\n{b}");
    let chunks = split(&text, o200k().count(b) + 2, o200k());
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].text, a);
    assert_eq!(chunks[1].text, b);
    assert_eq!(chunks[1].joiner, "\n");
}

#[test]
fn long_sentence_and_long_word() {
    let c = o200k();
    let sentence = "그는 이날 기자회견에서, 지난해 발생한 사고의 원인과 책임 소재, 그리고 재발 방지 대책에 대해 상세히 설명하며 유가족에게 거듭 사과했다.";
    let chunks = split(sentence, 12, c);
    assert!(chunks.len() > 1);
    assert!(chunks.iter().all(|ch| ch.tokens <= 12));
    assert!(chunks.iter().skip(1).all(|ch| ch.joiner == " "));
    locate(sentence, &chunks);
    let word = "https://example.com/".to_string() + &"abcdefghij".repeat(30);
    let text = format!("주소는 {word} 이다.");
    let chunks = split(&text, 10, c);
    assert!(chunks.iter().all(|ch| ch.tokens <= 10));
    assert!(chunks.iter().any(|ch| ch.joiner.is_empty() && !std::ptr::eq(ch, &chunks[0])));
    locate(&text, &chunks);
}

#[test]
fn sentences_korean_endings_quotes_brackets() {
    let p = "그는 \"괜찮다.\" 라고 했다. 정말 그럴까? 그렇죠. 그녀는 '좋아요.' 그리고 웃었다.” 끝이다.) 다음 문장!";
    assert_eq!(
        sentences(p),
        vec![
            "그는 \"괜찮다.\"",
            "라고 했다.",
            "정말 그럴까?",
            "그렇죠.",
            "그녀는 '좋아요.'",
            "그리고 웃었다.”",
            "끝이다.)",
            "다음 문장!"
        ]
    );
    assert_eq!(sentences("“가자.” 그가 말했다."), vec!["“가자.”", "그가 말했다."]);
    assert_eq!(sentences("놀랍다?! 정말이다…"), vec!["놀랍다?!", "정말이다…"]);
    assert_eq!(sentences("발표했다.[1] 이어서 말했다.[2][3]"), vec!["발표했다.[1]", "이어서 말했다.[2][3]"]);
    assert_eq!(sentences("끝났다。 다음이다。"), vec!["끝났다。", "다음이다。"]);
}

#[test]
fn sentences_numbers_abbreviations_urls() {
    assert_eq!(
        sentences("성장률은 3.5%로 1.2배 늘었다. 좋다."),
        vec!["성장률은 3.5%로 1.2배 늘었다.", "좋다."]
    );
    assert_eq!(
        sentences("U.S. 정부는 No. 1 기업을 지원한다. Mr. Kim이 말했다."),
        vec!["U.S. 정부는 No. 1 기업을 지원한다.", "Mr. Kim이 말했다."]
    );
    assert_eq!(sentences("J. K. Rowling이 왔다."), vec!["J. K. Rowling이 왔다."]);
    assert_eq!(sentences("2023. 1. 5. 발표했다."), vec!["2023. 1. 5. 발표했다."]);
    assert_eq!(sentences("그는 1. 그녀는 2. 끝."), vec!["그는 1.", "그녀는 2.", "끝."]);
    assert_eq!(
        sentences("문의는 kim.minsu@news.co.kr 또는 https://www.example.co.kr/a.html 로. 감사하다."),
        vec!["문의는 kim.minsu@news.co.kr 또는 https://www.example.co.kr/a.html 로.", "감사하다."]
    );
    assert_eq!(sentences("it's approx. five. Next one."), vec!["it's approx. five.", "Next one."]);
}

#[test]
fn sentences_ellipsis_inside_quotes_and_no_final_punct() {
    assert_eq!(
        sentences("그는 \"글쎄… 잘 모르겠다. 생각해 보자\"고 말했다. 끝."),
        vec!["그는 \"글쎄… 잘 모르겠다. 생각해 보자\"고 말했다.", "끝."]
    );
    assert_eq!(sentences("그는 “글쎄... 모르겠다”고 했다"), vec!["그는 “글쎄... 모르겠다”고 했다"]);
    // Unclosed quote does not glue the rest together.
    assert_eq!(sentences("그는 \"시작했다. 끝났다."), vec!["그는 \"시작했다.", "끝났다."]);
    assert_eq!(sentences("  제목 없는 줄  "), vec!["제목 없는 줄"]);
    assert!(sentences("   ").is_empty());
    // No text lost: slices plus whitespace give back the paragraph.
    let p = " 가. 나?  다!\t라 ";
    let ss = sentences(p);
    let mut rebuilt = String::new();
    let mut pos = 0;
    for s in ss {
        let off = s.as_ptr() as usize - p.as_ptr() as usize;
        assert!(p[pos..off].trim().is_empty());
        rebuilt.push_str(&p[pos..off]);
        rebuilt.push_str(s);
        pos = off + s.len();
    }
    rebuilt.push_str(&p[pos..]);
    assert_eq!(rebuilt, p);
}

#[test]
fn tail() {
    let t = "하나다. 둘이다.\n셋이다. 넷이다.\n";
    assert_eq!(tail_sentences(t, 0), "");
    assert_eq!(tail_sentences(t, 1), "넷이다.");
    assert_eq!(tail_sentences(t, 2), "셋이다. 넷이다.");
    assert_eq!(tail_sentences(t, 3), "둘이다.\n셋이다. 넷이다.");
    assert_eq!(tail_sentences(t, 9), "하나다. 둘이다.\n셋이다. 넷이다.");
    assert_eq!(tail_sentences("\n\n", 2), "");
}

#[test]
fn encodings() {
    use Encoding::*;
    for (m, e) in [
        ("gpt-4o", O200kBase),
        ("gpt-4o-mini", O200kBase),
        ("gpt-4.1-nano", O200kBase),
        ("gpt-5", O200kBase),
        ("o1-preview", O200kBase),
        ("o3-mini", O200kBase),
        ("o4-mini", O200kBase),
        ("openai/gpt-4o", O200kBase),
        ("GPT-4-turbo", Cl100kBase),
        ("gpt-4", Cl100kBase),
        ("gpt-3.5-turbo", Cl100kBase),
        ("llama3.1:8b", O200kBase),
        ("qwen2.5", O200kBase),
        ("solar-pro", O200kBase),
        ("", O200kBase),
    ] {
        assert_eq!(Encoding::for_model(m), e, "{m}");
    }
    assert_eq!(Encoding::default(), O200kBase);
    for e in [O200kBase, Cl100kBase] {
        assert_eq!(Encoding::parse(e.name()), Some(e));
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, format!("\"{}\"", e.name()));
        assert_eq!(serde_json::from_str::<Encoding>(&json).unwrap(), e);
    }
    assert_eq!(Encoding::parse("CL100K"), Some(Cl100kBase));
    assert_eq!(Encoding::parse("p50k_base"), None);
    assert_eq!(TokenCounter::new(Cl100kBase).encoding(), Cl100kBase);
}

#[test]
fn o200k_cheaper_than_cl100k_for_korean() {
    let text = match corpus() {
        Some(a) => a.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join("\n"),
        None => "정부는 오늘 새로운 경제 정책을 발표했다. 전문가들은 효과가 클 것으로 내다봤다.".repeat(20),
    };
    let o = TokenCounter::new(Encoding::O200kBase).count(&text);
    let cl = TokenCounter::new(Encoding::Cl100kBase).count(&text);
    let chars = text.chars().count() as f64;
    eprintln!("o200k {:.3} tok/char, cl100k {:.3} tok/char", o as f64 / chars, cl as f64 / chars);
    assert!((o as f64) < 0.8 * cl as f64, "o200k {o} vs cl100k {cl}");
}

#[test]
fn cl100k_split_respects_limit() {
    let Some(articles) = corpus() else { return };
    let c = TokenCounter::new(Encoding::Cl100kBase);
    for (id, text) in articles.iter().take(40) {
        let chunks = split(text, 300, c);
        locate(text, &chunks);
        assert!(chunks.iter().all(|ch| ch.tokens <= 300), "{id}");
    }
}
