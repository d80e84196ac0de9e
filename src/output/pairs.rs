//! A translation beside its source: the paragraphs of the Korean text and of the English,
//! paired for the exporters that show them side by side (HTML) or one after the other
//! (Markdown).

/// The non-blank lines of `text`: its paragraphs (cleaning leaves one per line).
pub(super) fn split(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

/// The English paragraphs beside the Korean ones they translate: one to one when the counts
/// agree (the translation keeps the source's breaks); else each English paragraph goes beside
/// the Korean paragraph where its middle falls, by share of the text, so that a paragraph the
/// model split or joined stays beside its source. Every Korean paragraph heads a row; an
/// English one is never dropped.
pub(super) fn align<'a>(korean: &[&'a str], english: &[&'a str]) -> Vec<(Vec<&'a str>, Vec<&'a str>)> {
    if korean.is_empty() {
        return if english.is_empty() { Vec::new() } else { vec![(Vec::new(), english.to_vec())] };
    }
    if korean.len() == english.len() {
        return korean.iter().zip(english).map(|(ko, en)| (vec![*ko], vec![*en])).collect();
    }
    // Where each part ends (Korean) or has its middle (English), as a share of its text.
    let marks = |parts: &[&str], middle: bool| -> Vec<f64> {
        let total = parts.iter().map(|p| p.chars().count()).sum::<usize>().max(1) as f64;
        let mut at = 0.0;
        parts
            .iter()
            .map(|p| {
                let share = p.chars().count() as f64 / total;
                at += share;
                if middle { at - share / 2.0 } else { at }
            })
            .collect()
    };
    let ends = marks(korean, false);
    let mut rows: Vec<(Vec<&str>, Vec<&str>)> = korean.iter().map(|ko| (vec![*ko], Vec::new())).collect();
    for (en, middle) in english.iter().zip(marks(english, true)) {
        let row = ends.iter().position(|end| middle <= *end + 1e-9).unwrap_or(korean.len() - 1);
        rows[row].1.push(en);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_translation_pairs_each_korean_paragraph_with_its_english() {
        let one_to_one = align(&["가", "나"], &["A", "B"]);
        assert_eq!(one_to_one, [(vec!["가"], vec!["A"]), (vec!["나"], vec!["B"])]);
        // The model split the long second paragraph in two: both halves stay beside it.
        let ko = [
            "정부는 수출이 늘었다고 밝혔다.",
            "반도체 수출은 역대 최대를 기록했고, 업계는 내년에도 투자를 늘릴 계획이라고 전했다.",
        ];
        let en = [
            "The government said exports rose.",
            "Chip exports hit a record high,",
            "and the industry said it plans to invest more next year.",
        ];
        assert_eq!(align(&ko, &en), [(vec![ko[0]], vec![en[0]]), (vec![ko[1]], vec![en[1], en[2]])]);
        assert_eq!(align(&[], &["Only English."]), [(vec![], vec!["Only English."])]);
    }
}
