//! Glossary terms (Korean → English). Placeholder type until the glossary work lands.

/// One glossary entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Term {
    pub ko: String,
    pub en: String,
}
