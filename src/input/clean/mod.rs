//! Structural cleaning of scraped Korean news pages.
//!
//! This module owns the step between "text scraped from a news page" and "text worth sending to a
//! translation model": it decides, line by line, what is article (headline, deck, body, subheads)
//! and what is page furniture, and it keeps the useful facts buried in the furniture (reporters,
//! photo credits, copyright holder) as metadata instead of body text.
//!
//! Why structural and not a list of known sentences: every Korean news site words its widgets a
//! little differently, but they all share the same *shape*. Furniture lines are short, carry no
//! sentence-final ending (다. 요. 니다.), sit in predictable places (before the body, or after the
//! byline/copyright that closes it), come as runs of list-marked links, or repeat text that appears
//! again later (portal summary boxes). Notices such as copyright or photo placeholders follow a
//! handful of conventions (`무단 전재`, `©`, `<사진 / …>`) that are patterns, not sentences.
//! Article prose, on the other hand, is made of full sentences, so a line that ends like a Korean
//! sentence is only removed by notice patterns specific enough not to occur in reporting, or when
//! it lies after the hard end of the article (the copyright notice).

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Cleaned {
    /// The headline: the given title, or (when None was given) the first line that survives cleaning.
    pub(crate) title: String,
    /// The article body, paragraphs separated by "\n", NFC, whitespace normalised, without the title line.
    pub(crate) text: String,
    /// Every removed line (or removed part of a line), in input order, with why.
    pub(crate) removed: Vec<Removed>,
    pub(crate) metadata: ArticleMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Removed {
    pub(crate) line: String,
    pub(crate) reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    PageFurniture,
    Breadcrumb,
    PhotoPlaceholder,
    Promo,
    CommentWidget,
    RelatedLinks,
    Copyright,
    Byline,
    RepeatedSummary,
    TrailingHeadlines,
    Empty,
    /// The headline line itself: moved to [`Cleaned::title`], not lost.
    Title,
    /// A wire-service dateline such as "(서울=연합뉴스)" without a reporter name.
    Dateline,
    /// Sentence-like text found after the copyright notice, which closes the article.
    TrailingContent,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub(crate) struct ArticleMetadata {
    pub(crate) reporters: Vec<Reporter>,
    pub(crate) photo_credits: Vec<String>,
    pub(crate) copyright: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub(crate) struct Reporter {
    /// None when only an address was found (wire copy often ends with a bare one).
    pub(crate) name: Option<String>,
    pub(crate) email: Option<String>,
}

mod patterns;
mod split;

use patterns::*;

/// Unicode NFC, CRLF->LF, trims each line, folds runs of spaces/tabs/NBSP/zero-width chars to one space, drops control chars.
pub(crate) fn normalize(text: &str) -> String {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    // Nearly every page is NFC already (precomposed Hangul); the quick check spares the
    // decompose-recompose round that would otherwise cost a sixth of cleaning.
    let nfc = match unicode_normalization::is_nfc_quick(unified.chars()) {
        unicode_normalization::IsNormalized::Yes => unified,
        _ => unified.nfc().collect(),
    };
    let mut out = String::with_capacity(nfc.len());
    for (i, line) in nfc.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut pending_space = false;
        let mut started = false;
        for c in line.chars() {
            if is_space_like(c) {
                pending_space = started;
                continue;
            }
            if c.is_control() || is_invisible_format(c) {
                continue;
            }
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
            started = true;
        }
    }
    out
}

fn is_space_like(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}')
        || (c.is_whitespace() && c != '\n')
}

// Direction marks and similar format characters are invisible in the page; they only cost tokens.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{00AD}')
}

fn is_sentence(line: &str) -> bool {
    SENTENCE_END.is_match(line)
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Structural role needed by the later, position-aware passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineRole {
    Plain,
    /// A standalone byline/e-mail line: the soft end of the article.
    BylineLine,
    /// A copyright notice: the hard end of the article.
    CopyrightLine,
    RelatedHeader,
}

struct Line {
    original: String,
    /// The article text of the line (after any stripped prefix).
    text: String,
    removed: Option<Reason>,
    role: LineRole,
    /// Parts of the line removed while the rest was kept (byline prefix, trailing photo credit).
    stripped: Vec<(String, Reason)>,
    /// For a piece of a longer input line (see `split`), how it joins the piece before it.
    glue: Option<&'static str>,
}

impl Line {
    fn kept(&self) -> Option<&str> {
        match self.removed {
            None => Some(&self.text),
            Some(_) => None,
        }
    }
}

/// Clean one article. `title`: Some for sources that carry one (JSONL), None for a plain text page whose headline must be found.
pub(crate) fn clean(title: Option<&str>, text: &str) -> Cleaned {
    let mut meta = ArticleMetadata::default();
    let normalized = normalize(text);
    let mut lines: Vec<Line> = if normalized.is_empty() {
        Vec::new()
    } else {
        let mut lines = Vec::new();
        for line in normalized.lines() {
            for piece in split::pieces(line) {
                let mut l = classify(&line[piece.range], &mut meta);
                l.glue = piece.glue;
                lines.push(l);
            }
            if line.is_empty() {
                lines.push(classify(line, &mut meta));
            }
        }
        lines
    };

    mark_comment_followers(&mut lines);
    mark_related_runs(&mut lines);
    mark_after_end(&mut lines);
    mark_trailing_list(&mut lines);
    mark_repeated_summaries(&mut lines);

    // A given title, even an empty one, means the source said what its headline is (JSONL):
    // the first line of the text is then body, not a headline to look for.
    let given_title = title.map(|t| normalize(t).replace('\n', " "));
    let title = match given_title {
        Some(t) if t.is_empty() => t,
        Some(t) => {
            let squash = |s: &str| s.split_whitespace().collect::<String>();
            let target = squash(&t);
            if let Some(l) = lines.iter_mut().find(|l| l.kept().is_some_and(|k| squash(k) == target)) {
                l.removed = Some(Reason::Title);
            }
            t
        }
        None => {
            // Section labels and site names that survive the patterns sit above the headline and
            // are one or two short words; the headline is the first line with some substance.
            let kept: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].kept().is_some()).collect();
            let before_prose =
                kept.iter().copied().take_while(|&i| !lines[i].kept().is_some_and(is_sentence));
            let headline = before_prose
                .into_iter()
                .find(|&i| lines[i].kept().is_some_and(|k| char_len(k) >= 10 && k.contains(' ')))
                .or_else(|| kept.first().copied());
            match headline {
                Some(h) => {
                    for l in &mut lines[..h] {
                        if l.kept().is_some_and(|k| !is_sentence(k)) {
                            l.removed = Some(Reason::PageFurniture);
                        }
                    }
                    // A page that opens with prose (or whose headline a flattening glued to the
                    // first sentence) has no headline line: the sentence is the best title there
                    // is, but it is body too and stays there.
                    if !lines[h].kept().is_some_and(is_sentence) {
                        lines[h].removed = Some(Reason::Title);
                    }
                    lines[h].text.clone()
                }
                None => String::new(),
            }
        }
    };

    let mut removed = Vec::new();
    let mut body: Vec<String> = Vec::new();
    // Kept pieces of one input line glue back together, except around a subhead: a marked piece
    // after a full sentence, and whatever follows a marked piece that is not one, start anew.
    let mut previous_kept = false;
    let mut previous_subhead = false;
    for l in lines {
        let was_stripped = !l.stripped.is_empty();
        removed.extend(l.stripped.into_iter().map(|(line, reason)| Removed { line, reason }));
        let kept = l.removed.is_none();
        let marked = kept && MARKED_PIECE.is_match(&l.text);
        let subhead = marked && !is_sentence(&l.text);
        let new_paragraph = previous_subhead || (marked && body.last().is_some_and(|p| is_sentence(p)));
        previous_subhead = subhead;
        match (l.removed, l.glue, body.last_mut()) {
            (None, Some(glue), Some(paragraph)) if previous_kept && !new_paragraph => {
                paragraph.push_str(glue);
                paragraph.push_str(&l.text);
            }
            (None, ..) => body.push(l.text),
            // Blank lines are layout, not content: dropping them is not worth reporting.
            (Some(Reason::Empty), ..) => {}
            // A stripped line later removed as a whole is reported once: parts, then remainder.
            (Some(reason), ..) if was_stripped => removed.push(Removed { line: l.text, reason }),
            (Some(reason), ..) => removed.push(Removed { line: l.original, reason }),
        }
        previous_kept = kept;
    }
    Cleaned { title, text: body.join("\n"), removed, metadata: meta }
}

/// "전체보기" alone is ambiguous; right after a comment counter it is the comment widget's button.
fn mark_comment_followers(lines: &mut [Line]) {
    for i in 1..lines.len() {
        let prev_comment = lines[i - 1].removed == Some(Reason::CommentWidget);
        if prev_comment && lines[i].kept().is_some_and(|k| SEE_ALL.is_match(k)) {
            lines[i].removed = Some(Reason::CommentWidget);
        }
    }
}

/// Headline-like lines directly under a related-links header, and runs of link-marked lines,
/// are link lists. A single "▶ …" line could be a subhead, so it needs company or a header.
fn mark_related_runs(lines: &mut [Line]) {
    // Items keep the style of the first item (all marked, or all bare); a change of style or a
    // subhead marker means the article has resumed.
    let mut list_style: Option<Option<bool>> = None;
    for l in lines.iter_mut() {
        if l.role == LineRole::RelatedHeader {
            list_style = Some(None);
            continue;
        }
        let Some(style) = list_style else { continue };
        let Some(k) = l.kept() else {
            list_style = None;
            continue;
        };
        let marked = LINK_MARKER.is_match(k) || LIST_ITEM.is_match(k);
        let same_style = style.is_none_or(|s| s == marked);
        if is_sentence(k) || SUBHEAD_MARKER.is_match(k) || !same_style {
            list_style = None;
            continue;
        }
        list_style = Some(Some(marked));
        l.removed = Some(Reason::RelatedLinks);
    }
    let is_link = |l: &Line| l.kept().is_some_and(|k| LINK_MARKER.is_match(k) && !is_sentence(k));
    let mut i = 0;
    while i < lines.len() {
        if !is_link(&lines[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && is_link(&lines[i]) {
            i += 1;
        }
        if i - start >= 2 {
            for l in &mut lines[start..i] {
                l.removed = Some(Reason::RelatedLinks);
            }
        }
    }
}

/// The byline (soft end) or copyright notice (hard end) closes the article once some prose has
/// been seen. After the hard end nothing is article. After a soft end only headline-like lines go,
/// and only when no prose follows them (a photographer credit mid-article must not cut the body).
fn mark_after_end(lines: &mut [Line]) {
    let mut seen_prose = false;
    let mut soft_end = None;
    let mut hard_end = None;
    for (i, l) in lines.iter().enumerate() {
        if let Some(k) = l.kept()
            && is_sentence(k)
        {
            seen_prose = true;
        }
        if !seen_prose {
            continue;
        }
        match l.role {
            LineRole::BylineLine if soft_end.is_none() => soft_end = Some(i),
            LineRole::CopyrightLine => {
                hard_end = Some(i);
                break;
            }
            _ => {}
        }
    }
    if let Some(h) = hard_end {
        for l in &mut lines[h + 1..] {
            if let Some(k) = l.kept() {
                let reason = if is_sentence(k) { Reason::TrailingContent } else { Reason::TrailingHeadlines };
                l.removed = Some(reason);
            }
        }
    }
    if let Some(s) = soft_end {
        let stop = hard_end.unwrap_or(lines.len());
        let last_prose = (s + 1..stop).rev().find(|&i| lines[i].kept().is_some_and(is_sentence));
        let from = last_prose.map_or(s + 1, |p| p + 1);
        for l in &mut lines[from.min(stop)..stop] {
            if l.kept().is_some() {
                l.removed = Some(Reason::TrailingHeadlines);
            }
        }
    }
}

/// Without an end marker, a run of ≥3 headline-like list items closing the page is still a
/// "more news" block: article bullets are either prose or short key/value facts.
fn mark_trailing_list(lines: &mut [Line]) {
    let kept: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].kept().is_some()).collect();
    let mut run = Vec::new();
    for &i in kept.iter().rev() {
        let k = lines[i].kept().unwrap_or_default();
        if LIST_ITEM.is_match(k) && !is_sentence(k) && !k.contains(':') && char_len(k) >= 15 {
            run.push(i);
        } else {
            break;
        }
    }
    if run.len() >= 3 {
        for i in run {
            lines[i].removed = Some(Reason::TrailingHeadlines);
        }
    }
}

/// How far down the page a summary box can sit, in kept lines.
const SUMMARY_BOX_LINES: usize = 8;

/// Portal summary boxes repeat the article's first sentences (sometimes truncated with "…")
/// before the body starts; the later occurrence is the article, the earlier one is the repeat.
/// Only the top of the page is looked at: further down, a paragraph that comes twice is the
/// article's own (a quote taken up again), and looking there would cost a search of the rest
/// of the page per line.
fn mark_repeated_summaries(lines: &mut [Line]) {
    let top: Vec<usize> =
        (0..lines.len()).filter(|&i| lines[i].kept().is_some()).take(SUMMARY_BOX_LINES).collect();
    let Some(&first) = top.first() else { return };
    // The kept text from the first candidate on, once: pieces of one line glued as they will be
    // in the body, lines apart. `starts[j]`: where line `first + j` begins in it.
    let mut rest = String::new();
    let mut starts = Vec::with_capacity(lines.len() - first);
    for l in &lines[first..] {
        starts.push(rest.len());
        if let Some(k) = l.kept() {
            rest.push_str(l.glue.unwrap_or("\n"));
            rest.push_str(k);
        }
    }
    for i in top {
        let Some(k) = lines[i].kept() else { continue };
        let needle = k.trim_end_matches(['.', '…']).trim_end_matches("...").trim_end();
        if char_len(needle) < 20 {
            continue;
        }
        let after = starts.get(i + 1 - first).map_or("", |&s| &rest[s..]);
        if after.contains(needle) {
            lines[i].removed = Some(Reason::RepeatedSummary);
        }
    }
}

#[cfg(test)]
mod tests;
