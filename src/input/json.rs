//! JSON inputs, told apart by their content, not their name, the same way for files,
//! directories, `/dev/fd/N` and stdin: JSONL (one article object a line, any extension), a JSON
//! array of article objects (streamed element by element, so memory stays flat), or a single
//! article object. Each article object has `text`, and optionally `id` and `title`; its other
//! fields are carried into the record's `meta`.

use std::io::{BufRead, Cursor, Read};

use serde_json::Value;

use super::{Article, InputError, SourceRef};

/// What a stream holds, from its first non-blank line.
pub(super) enum Shape {
    /// One JSON object per line.
    Lines,
    /// A JSON array (of article objects).
    Array,
    /// Maybe a single JSON object written over several lines; else text.
    MaybeObject,
    /// Not JSON: an article's text or page.
    Text,
}

/// The shape of `stream`, and the stream again, whole: only the first non-blank line is read
/// to tell, however long the rest is.
pub(super) fn sniff<R: BufRead>(mut stream: R) -> std::io::Result<(Shape, Cursor<Vec<u8>>, R)> {
    let mut head = Vec::new();
    let shape = loop {
        let start = head.len();
        if stream.read_until(b'\n', &mut head)? == 0 {
            break Shape::Text;
        }
        let line = head[start..].strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&head[start..]).trim_ascii();
        if line.is_empty() {
            continue;
        }
        break if serde_json::from_slice::<serde_json::Map<String, Value>>(line).is_ok() {
            Shape::Lines
        } else if line.starts_with(b"[")
            && line[1..].trim_ascii_start().first().is_none_or(|b| matches!(b, b'{' | b']'))
        {
            // `[` alone, `[{…`, or `[]`; a headline like `[단독] …` is text.
            Shape::Array
        } else if line.starts_with(b"{") {
            Shape::MaybeObject
        } else {
            Shape::Text
        };
    };
    Ok((shape, Cursor::new(head), stream))
}

/// An article object as an [`Article`]; `fallback_id` when it has no `id`.
pub(super) fn article_from(
    value: Value,
    source: &SourceRef,
    fallback_id: &str,
) -> Result<Article, InputError> {
    let bad = |message: String| InputError::BadJsonLine { location: source.to_string(), message };
    let Value::Object(mut map) = value else {
        return Err(bad("the item is not a JSON object".into()));
    };
    let id = match map.shift_remove("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => fallback_id.to_string(),
        Some(_) => return Err(bad("\"id\" must be a string or a number".into())),
    };
    // A JSON article's headline is its `title` field, never its first line: without one, the
    // whole text is body.
    let title = match map.shift_remove("title") {
        Some(Value::String(s)) => Some(s),
        None | Some(Value::Null) => Some(String::new()),
        Some(_) => return Err(bad("\"title\" must be a string".into())),
    };
    let text = match map.shift_remove("text") {
        Some(Value::String(s)) => s,
        None => return Err(bad("\"text\" is missing".into())),
        Some(_) => return Err(bad("\"text\" must be a string".into())),
    };
    Ok(Article { id, source: source.clone(), title, text, meta: map })
}

/// One JSONL line as an article.
pub(super) fn parse_line(line: &str, source: &SourceRef, fallback_id: &str) -> Result<Article, InputError> {
    let value: Value = serde_json::from_str(line)
        .map_err(|e| InputError::BadJsonLine { location: source.to_string(), message: e.to_string() })?;
    article_from(value, source, fallback_id)
}

/// Stream the elements of a JSON array from `reader` to `each` (its 1-based position and the
/// element), until the array ends or `each` returns false. A syntax error ends the stream with
/// its message and the position it was found after.
pub(super) fn each_element(
    reader: impl Read,
    mut each: impl FnMut(usize, Value) -> bool,
) -> Result<(), (usize, String)> {
    use serde::de::{Deserializer, SeqAccess, Visitor};

    struct Elements<'f, F>(&'f mut F);

    impl<'de, F: FnMut(Value) -> bool> Visitor<'de> for Elements<'_, F> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of article objects")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(value) = seq.next_element::<Value>()? {
                if !(self.0)(value) {
                    return Ok(());
                }
            }
            Ok(())
        }
    }

    let seen = std::cell::Cell::new(0);
    let mut counted = |value: Value| {
        seen.set(seen.get() + 1);
        each(seen.get(), value)
    };
    let mut deserializer = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    deserializer.deserialize_seq(Elements(&mut counted)).map_err(|e| (seen.get(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> &'static str {
        match sniff(Cursor::new(text.as_bytes().to_vec())).unwrap().0 {
            Shape::Lines => "lines",
            Shape::Array => "array",
            Shape::MaybeObject => "object?",
            Shape::Text => "text",
        }
    }

    #[test]
    fn shapes_are_told_by_the_first_line() {
        assert_eq!(shape("\n{\"text\": \"기사\"}\n{\"text\": \"둘\"}\n"), "lines");
        assert_eq!(shape("[{\"text\": \"기사\"}]"), "array");
        assert_eq!(shape("[\n  {\"text\": \"기사\"}\n]"), "array");
        assert_eq!(shape("{\n  \"text\": \"기사\"\n}"), "object?");
        assert_eq!(shape("[단독] 정부, 새 계획 발표\n본문"), "text");
        assert_eq!(shape("{단독} 정부, 새 계획 발표\n본문"), "object?");
        assert_eq!(shape("정부, 새 계획 발표\n본문"), "text");
    }

    #[test]
    fn array_elements_stream_in_order_and_a_syntax_error_says_where() {
        let mut seen = Vec::new();
        each_element(&b"[{\"text\":\"a\"}, {\"text\":\"b\"}]"[..], |n, v| {
            seen.push((n, v["text"].as_str().unwrap().to_string()));
            true
        })
        .unwrap();
        assert_eq!(seen, [(1, "a".to_string()), (2, "b".to_string())]);
        let error = each_element(&b"[{\"text\":\"a\"}, {\"text\": }]"[..], |_, _| true).unwrap_err();
        assert_eq!(error.0, 1);
    }
}
