//! Preparing an article for the model: cleaned (see [`clean`]), its headline found, and what
//! cleaning took out (the byline's facts, the removed lines with their reasons) kept beside it.

use super::clean::{self, ArticleMetadata, Removed};
use super::{Article, InputError, SourceRef};

/// An article ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prepared {
    pub(crate) id: String,
    pub(crate) source: SourceRef,
    pub(crate) title: String,
    pub(crate) text: String,
    pub(crate) meta: serde_json::Map<String, serde_json::Value>,
    /// Reporters, photo credits and copyright holder the cleaner took out of the text.
    pub(crate) byline: ArticleMetadata,
    /// What cleaning removed and why (shown by `ko2en clean`).
    pub(crate) removed: Vec<Removed>,
}

/// Clean the page (furniture, promos, bylines, trailing headlines: see [`clean`]) and find the
/// headline: the source's own title, or the first line that survives cleaning. With `clean`
/// false (`--no-clean`) the text is only normalised (NFC, whitespace): the headline is the
/// given title or the first non-empty line, the body everything else.
pub(crate) fn prepare(article: Article, clean: bool) -> Result<Prepared, InputError> {
    let cleaned = if clean {
        clean::clean(article.title.as_deref(), &article.text)
    } else {
        uncleaned(article.title.as_deref(), &article.text)
    };
    if cleaned.text.trim().is_empty() {
        return Err(InputError::Empty { location: article.source.to_string() });
    }
    Ok(Prepared {
        id: article.id,
        source: article.source,
        title: cleaned.title,
        text: cleaned.text,
        meta: article.meta,
        byline: cleaned.metadata,
        removed: cleaned.removed,
    })
}

fn uncleaned(title: Option<&str>, text: &str) -> clean::Cleaned {
    let text = clean::normalize(text);
    let given = title.map(|t| clean::normalize(t).replace('\n', " ")).filter(|t| !t.is_empty());
    let (title, body) = match given {
        Some(title) => (title, text),
        None => {
            let mut lines = text.lines().skip_while(|l| l.is_empty());
            let title = lines.next().unwrap_or_default().to_string();
            (title, lines.collect::<Vec<_>>().join("\n").trim().to_string())
        }
    };
    clean::Cleaned { title, text: body, removed: Vec::new(), metadata: ArticleMetadata::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(title: Option<&str>, text: &str) -> Article {
        Article {
            id: "a".into(),
            source: SourceRef { path: "a.txt".into(), line: None },
            title: title.map(str::to_string),
            text: text.into(),
            meta: Default::default(),
        }
    }

    #[test]
    fn a_text_file_has_its_headline_on_the_first_non_empty_line() {
        let p = prepare(
            article(None, "\n\n  정부, 새 수출 계획 발표  \r\n\n첫 문단입니다.\n둘째 문단입니다.\n"),
            true,
        )
        .unwrap();
        assert_eq!(p.title, "정부, 새 수출 계획 발표");
        assert_eq!(p.text, "첫 문단입니다.\n둘째 문단입니다.");
    }

    #[test]
    fn the_seed_page_is_cleaned_before_anything_is_sent() {
        let page = include_str!("../../fixtures/alibaba-cloud-korea.txt");
        let p = prepare(article(None, page), true).unwrap();
        assert!(p.title.starts_with("[이슈 분석] 마윈 회장의 방한"), "{}", p.title);
        for noise in ["상단여백", "Back to Top", "기사 댓글", "무단 전재", "<사진"] {
            assert!(!p.text.contains(noise), "{noise} left in the body");
        }
        assert!(p.text.contains("SK텔레콤 을지로 본사를 방문해"));
    }

    #[test]
    fn a_given_title_keeps_the_whole_text_as_body() {
        let p = prepare(article(Some("제목"), "첫 문단입니다."), true).unwrap();
        assert_eq!((p.title.as_str(), p.text.as_str()), ("제목", "첫 문단입니다."));
    }

    #[test]
    fn an_article_without_a_body_is_an_empty_error() {
        assert!(matches!(prepare(article(None, "  \n\n"), true), Err(InputError::Empty { .. })));
        assert!(matches!(prepare(article(None, "제목만 있다"), true), Err(InputError::Empty { .. })));
    }
}
