//! Bytes to text, in the encodings Korean news comes in: UTF-8, UTF-16 (with its BOM), and
//! EUC-KR/CP949, still common on Korean news sites and in old archives.
//!
//! The encoding is decided, in this order, by: the user (`--input-encoding`), a byte-order
//! mark, the text being valid UTF-8, a charset the document declares (HTML `<meta>`, an XML
//! declaration), and last the content: CP949 when it decodes without error to mostly Hangul.
//! Nothing is decoded with replacement characters: a file no candidate decodes is an error
//! that names what was tried, not a lossy guess that would be paid for and translated.

use encoding_rs::{EUC_KR, Encoding, UTF_8};

use super::InputError;

/// How text files are read: the reader's own settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadSettings {
    /// Decode every input with this encoding (`--input-encoding`), whatever it looks like.
    pub encoding: Option<&'static Encoding>,
    /// Read only the articles whose JSON carries this field (eval: `en_reference`; an article
    /// without one could not be scored, and translating it would be paid for nothing).
    pub only_with: Option<&'static str>,
}

/// The encoding a label names (`euc-kr`, `cp949`, `utf-16le`…), as browsers read labels.
pub(crate) fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes())
}

/// `bytes` as text, or why they are not text ko2en can read.
pub(crate) fn decode(display: &str, bytes: Vec<u8>, settings: ReadSettings) -> Result<String, InputError> {
    if let Some(forced) = settings.encoding {
        return strict(forced, &bytes).ok_or_else(|| InputError::NotText {
            path: display.to_string(),
            offset: first_invalid(forced, &bytes),
            tried: forced.name().to_string(),
        });
    }
    if let Some((encoding, bom)) = Encoding::for_bom(&bytes) {
        return strict(encoding, &bytes[bom..]).ok_or_else(|| InputError::NotText {
            path: display.to_string(),
            offset: bom + first_invalid(encoding, &bytes[bom..]),
            tried: format!("{} (its byte-order mark)", encoding.name()),
        });
    }
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err(InputError::Binary { path: display.to_string() });
    }
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e.into_bytes(),
    };
    let mut tried = vec![UTF_8.name()];
    if let Some(declared) = declared_charset(&bytes).filter(|e| *e != UTF_8) {
        if let Some(text) = strict(declared, &bytes) {
            return Ok(text);
        }
        tried.push(declared.name());
    }
    if let Some(text) = strict(EUC_KR, &bytes).filter(|t| mostly_hangul(t)) {
        return Ok(text);
    }
    if !tried.contains(&EUC_KR.name()) {
        tried.push("EUC-KR/CP949");
    }
    Err(InputError::NotText {
        path: display.to_string(),
        offset: first_invalid(UTF_8, &bytes),
        tried: tried.join(", "),
    })
}

/// Decoded without any replacement, or None.
fn strict(encoding: &'static Encoding, bytes: &[u8]) -> Option<String> {
    encoding.decode_without_bom_handling_and_without_replacement(bytes).map(|text| text.into_owned())
}

/// Where decoding `bytes` as `encoding` first fails.
fn first_invalid(encoding: &'static Encoding, bytes: &[u8]) -> usize {
    if encoding == UTF_8 {
        return std::str::from_utf8(bytes).err().map_or(0, |e| e.valid_up_to());
    }
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() * 3);
    match decoder.decode_to_string_without_replacement(bytes, &mut out, true) {
        (encoding_rs::DecoderResult::Malformed(_, _), read) => read,
        (_, read) => read,
    }
}

/// A charset declared in the first 2 KiB: `<meta charset="euc-kr">`,
/// `<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">`, or
/// `<?xml … encoding="euc-kr"?>`. Declarations are ASCII in every encoding that matters here.
fn declared_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]).to_ascii_lowercase();
    ["charset=", "encoding="].iter().find_map(|marker| {
        let at = head.find(marker)? + marker.len();
        let label: String = head[at..]
            .trim_start_matches(['"', '\'', ' '])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
            .collect();
        encoding_for_label(&label)
    })
}

/// Whether `text` reads as Korean (see `check::korean_share`): what sets a CP949 decoding apart
/// from the garbage other byte strings may happen to decode to.
fn mostly_hangul(text: &str) -> bool {
    crate::check::korean_share(&[text]) >= 0.3
}

#[cfg(test)]
mod tests {
    use super::*;

    const KOREAN: &str = "정부가 새 수출 계획을 발표했다. 계획은 내년에 시작된다.";

    fn euc_kr(text: &str) -> Vec<u8> {
        EUC_KR.encode(text).0.into_owned()
    }

    #[test]
    fn euc_kr_without_a_declaration_is_recognised_by_its_hangul() {
        assert_eq!(decode("a.txt", euc_kr(KOREAN), ReadSettings::default()).unwrap(), KOREAN);
    }

    #[test]
    fn euc_kr_korean_full_of_latin_and_cyrillic_names_is_still_recognised() {
        let text = "러시아어 위키백과가 Wikipedia의 .ru 도메인 검열에 반대했다. Википедия, Roskomnadzor, \
                    State Duma 등이 언급됐다.";
        assert_eq!(decode("a.txt", euc_kr(text), ReadSettings::default()).unwrap(), text);
    }

    #[test]
    fn a_declared_charset_is_used_when_the_bytes_are_not_utf8() {
        let page = format!(
            "<html><head><meta charset=\"euc-kr\"><title>t</title></head><body><p>{KOREAN}</p></body></html>"
        );
        assert_eq!(decode("a.html", euc_kr(&page), ReadSettings::default()).unwrap(), page);
        let page = format!(
            "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ks_c_5601-1987\">{KOREAN}"
        );
        assert_eq!(decode("a.html", euc_kr(&page), ReadSettings::default()).unwrap(), page);
    }

    #[test]
    fn utf16_with_a_bom_in_either_order() {
        let mut le = vec![0xFF, 0xFE];
        le.extend(KOREAN.encode_utf16().flat_map(u16::to_le_bytes));
        let mut be = vec![0xFE, 0xFF];
        be.extend(KOREAN.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode("le.txt", le, ReadSettings::default()).unwrap(), KOREAN);
        assert_eq!(decode("be.txt", be, ReadSettings::default()).unwrap(), KOREAN);
    }

    #[test]
    fn text_no_candidate_decodes_names_what_was_tried() {
        let error = decode("latin1.txt", b"caf\xe9 au lait".to_vec(), ReadSettings::default()).unwrap_err();
        assert!(matches!(error, InputError::NotText { offset: 3, .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("UTF-8")
                && message.contains("EUC-KR/CP949")
                && message.contains("--input-encoding"),
            "{message}"
        );
    }

    #[test]
    fn a_forced_encoding_wins_and_says_so_when_it_fails() {
        let latin1 = ReadSettings { encoding: encoding_for_label("latin1"), ..Default::default() };
        assert_eq!(decode("a.txt", b"caf\xe9".to_vec(), latin1).unwrap(), "café");
        let utf8 = ReadSettings { encoding: encoding_for_label("utf-8"), ..Default::default() };
        let error = decode("a.txt", euc_kr(KOREAN), utf8).unwrap_err().to_string();
        assert!(error.contains("UTF-8"), "{error}");
    }

    #[test]
    fn a_utf8_bom_is_not_part_of_the_text_and_nul_bytes_mean_binary() {
        assert_eq!(
            decode("x", b"\xEF\xBB\xBF\xEC\xA0\x9C\xEB\xAA\xA9".to_vec(), ReadSettings::default()).unwrap(),
            "제목"
        );
        assert!(matches!(
            decode("x", vec![0x89, b'P', 0, 0], ReadSettings::default()),
            Err(InputError::Binary { .. })
        ));
    }
}
