//! Boundaries inside a line, for pages whose text was flattened (a scraper that strips tags
//! without keeping breaks puts the whole page, furniture and all, on one line).
//!
//! The classifier and the position-aware passes work on lines; here a line is cut into the pieces
//! a page's layout would have put on lines of their own, so that the same rules, with the same
//! reasons, apply to them. The cuts are of two kinds:
//!
//! - **ends**, after which something new always starts: a Korean sentence end, an e-mail address
//!   (a byline's last word), a whole copyright notice, a bracketed photo credit;
//! - **starts**, before which something new starts when a space precedes them: a copyright
//!   notice, a bracketed tag such as `[이슈 분석]` or `[뉴스비전e 김호성 기자]`, a list or promo
//!   marker (`◆ ▶ ☞ ■ ※`), a `- ` list item, a known widget sentence;
//! - and after a marked link-list header ("▶ 관련기사"), where the list starts.
//!
//! A cut inside prose must never lose words, so the pieces of one line that all survive cleaning
//! are glued back together exactly as they were (see [`Piece::glue`]): a paragraph of an
//! ordinary page comes out unchanged, and a flattened page comes out as one line minus its
//! furniture. Headlines and subheads glued to the next sentence cannot be told apart from it
//! without punctuation; they stay with it, which costs nothing but a paragraph break.

use std::ops::Range;

use super::*;

/// One piece of a line: its byte range, and how it joins the piece before it.
pub(super) struct Piece {
    pub(super) range: Range<usize>,
    /// None for a line's first piece; otherwise what stood between it and the previous piece
    /// (one space, or nothing), used to glue kept neighbours back together.
    pub(super) glue: Option<&'static str>,
}

/// Cut a normalised line (trimmed, single spaces) at the boundaries described above.
pub(super) fn pieces(line: &str) -> Vec<Piece> {
    let mut cuts = vec![0, line.len()];
    let spaced_before = |at: usize| at == 0 || line[..at].ends_with(' ');
    let spaced_after = |at: usize| at == line.len() || line[at..].starts_with(' ');

    // Widgets that sit before the page's content: a flattened page opens with them.
    let mut start = 0;
    while let Some(m) = LEADING_SPACER.find(&line[start..]) {
        start += m.end();
        cuts.push(start);
    }
    for m in SENTENCE_CUT.find_iter(line) {
        if spaced_after(m.end()) {
            cuts.push(m.end());
        }
    }
    for m in EMAIL_CUT.find_iter(line) {
        if spaced_before(m.start()) && spaced_after(m.end()) {
            cuts.push(m.end());
        }
    }
    for c in NOTICE_CUT.captures_iter(line) {
        let m = c.get(0).expect("group 0 is the match");
        if spaced_before(m.start()) {
            cuts.push(m.start());
            // Without its closing words ("금지", "reserved") a notice runs to the next boundary.
            if c.name("tail").is_some() && spaced_after(m.end()) {
                cuts.push(m.end());
            }
        }
    }
    for m in FURNITURE_STRONG.find_iter(line) {
        cuts.push(m.start());
    }
    for m in BRACKET_CUT.find_iter(line) {
        if !spaced_before(m.start()) {
            continue;
        }
        let group = m.as_str();
        let credit = PHOTO.is_match(group) || PHOTO_CREDIT_ONLY.is_match(group) || COPYRIGHT.is_match(group);
        if credit && spaced_after(m.end()) {
            cuts.extend([m.start(), m.end()]);
        } else if group.starts_with(['[', '【']) && char_len(group) <= 32 {
            cuts.push(m.start());
        }
    }
    for m in RELATED_CUT.find_iter(line) {
        if spaced_after(m.end()) {
            cuts.push(m.end());
        }
    }
    for m in MARKER_CUT.find_iter(line) {
        if spaced_before(m.start()) {
            cuts.push(m.start());
        }
    }

    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Piece> = Vec::new();
    let mut from = 0;
    for &to in &cuts[1..] {
        let piece = line[from..to].trim();
        // A piece without a letter (a lone "-" or "※") belongs to what follows it.
        if piece.is_empty() || (!piece.chars().any(char::is_alphanumeric) && to < line.len()) {
            continue;
        }
        let lead = line[from..].len() - line[from..].trim_start().len();
        let begin = from + lead;
        let end = begin + piece.len();
        let glue = match out.last() {
            None => None,
            Some(prev) if prev.range.end < begin => Some(" "),
            Some(_) => Some(""),
        };
        out.push(Piece { range: begin..end, glue });
        from = to;
    }
    out
}
