//! HTML pages: placeholder until the Korean input work lands.
pub struct HtmlArticle {
    pub title: Option<String>,
    pub text: String,
}
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("no article text found")]
    NoContent,
}
pub fn extract(_html: &str) -> Result<HtmlArticle, HtmlError> {
    Err(HtmlError::NoContent)
}
