//! `ko2en eval`: how good a run's translations are, on evidence. A results file of
//! `translate` over articles with references (`en_reference`, kept in each record's `meta`)
//! is scored with chrF++ and BLEU (`metrics`, sacreBLEU's definitions), per article and over
//! the corpus, beside what the checks found, the tokens spent and the failures; two runs are
//! compared side by side; `--fail-under` turns a score into an exit code for CI.

pub(crate) mod metrics;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use metrics::Stats;

use crate::numbers::thousands;
use crate::record::Record;

/// One run's translations, scored.
#[derive(Debug)]
pub(crate) struct RunScores {
    models: Vec<String>,
    /// Per article with a reference and a translation: id, chrF++, sentence BLEU, warnings.
    articles: Vec<(String, f64, f64, Vec<String>)>,
    corpus: Stats,
    /// Records with a reference whose translation failed: id and error kind.
    failed: Vec<(String, String)>,
    /// Records without a reference (not scored).
    unscored: usize,
    warnings: BTreeMap<String, usize>,
    tokens: (u64, u64),
    /// USD the run's records cost, when every one of them has a price.
    cost: Option<f64>,
    /// How the run is named: its results file, or what eval translated.
    name: String,
    /// How long the run took, when eval made it.
    took: Option<std::time::Duration>,
}

impl RunScores {
    /// The corpus chrF++.
    pub(crate) fn chrf(&self) -> f64 {
        self.corpus.chrf()
    }

    /// The same scores, for a run eval made from `input` in `took`.
    pub(crate) fn made(mut self, input: &Path, took: std::time::Duration) -> RunScores {
        self.name = format!("{} translated now", input.display());
        self.took = Some(took);
        self
    }

    /// Read and score a results file. Blocking: run it off the async runtime.
    pub(crate) fn read(path: &Path) -> Result<RunScores, String> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let mut scores = RunScores {
            models: Vec::new(),
            articles: Vec::new(),
            corpus: Stats::default(),
            failed: Vec::new(),
            unscored: 0,
            warnings: BTreeMap::new(),
            tokens: (0, 0),
            cost: Some(0.0),
            name: path.display().to_string(),
            took: None,
        };
        for record in Record::read_all(std::io::BufReader::new(file), &name) {
            let (line, record) = record?;
            let Some(reference) = record.meta.get("en_reference").and_then(|r| r.as_str()) else {
                scores.unscored += 1;
                continue;
            };
            if !scores.models.contains(&record.model) {
                scores.models.push(record.model.clone());
            }
            scores.tokens.0 += record.usage.prompt_tokens;
            scores.tokens.1 += record.usage.completion_tokens;
            scores.cost = scores.cost.zip(record.usage.cost).map(|(sum, cost)| sum + cost);
            match (&record.error, &record.answers.translation_en) {
                (None, Some(translation)) => {
                    let stats = Stats::of(translation, reference);
                    scores.corpus.add(&stats);
                    let kinds: Vec<String> = record.warnings.iter().map(|w| w.kind.clone()).collect();
                    // An article counts once per kind, however many warnings of it it has.
                    let distinct: std::collections::BTreeSet<&String> = kinds.iter().collect();
                    for kind in distinct {
                        *scores.warnings.entry(kind.clone()).or_default() += 1;
                    }
                    scores.articles.push((record.id, stats.chrf(), stats.sentence_bleu(), kinds));
                }
                (Some(error), _) => scores.failed.push((record.id, error.kind.clone())),
                (None, None) => {
                    return Err(format!(
                        "line {line} of {name} has no translation: score the output of `ko2en translate`, not of summarize"
                    ));
                }
            }
        }
        if scores.articles.is_empty() && scores.failed.is_empty() {
            return Err(format!(
                "{name} has no translated article with a reference: translate a JSONL batch whose lines carry \
                 en_reference (kept in each record's meta), e.g. the NTREX documents of tests/data/ko-news.jsonl"
            ));
        }
        Ok(scores)
    }

    /// The report for people: the corpus scores, what the checks found, and the weakest
    /// articles.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let articles = self.articles.len() + self.failed.len();
        let _ = writeln!(
            out,
            "{} · model {} · {} article{} with a reference ({} failed{})",
            self.name,
            self.models.join(", "),
            thousands(articles as u64),
            if articles == 1 { "" } else { "s" },
            self.failed.len(),
            if self.unscored > 0 {
                format!(", {} without a reference not scored", self.unscored)
            } else {
                String::new()
            },
        );
        let cost = self.cost.map(|c| format!(" · {}", crate::price::dollars(c))).unwrap_or_default();
        let took = self.took.map(|t| format!(" · {:.1} s", t.as_secs_f64())).unwrap_or_default();
        let _ = writeln!(
            out,
            "chrF++ {:.1} · BLEU {:.1} (over the corpus, sacreBLEU's definitions) · tokens {} in, {} out{cost}{took}",
            self.corpus.chrf(),
            self.corpus.bleu(),
            thousands(self.tokens.0),
            thousands(self.tokens.1)
        );
        if !self.warnings.is_empty() {
            let rates: Vec<String> = self
                .warnings
                .iter()
                .map(|(kind, n)| {
                    format!("{kind} {n} ({:.0}%)", 100.0 * *n as f64 / self.articles.len().max(1) as f64)
                })
                .collect();
            let _ = writeln!(out, "articles with warnings: {}", rates.join(", "));
        }
        for (id, kind) in self.failed.iter().take(10) {
            let _ = writeln!(out, "failed: {id} ({kind})");
        }
        let mut weakest: Vec<&(String, f64, f64, Vec<String>)> = self.articles.iter().collect();
        weakest.sort_by(|a, b| a.1.total_cmp(&b.1));
        if !weakest.is_empty() {
            let _ = writeln!(out, "weakest articles (chrF++, BLEU, warnings):");
        }
        for (id, chrf, bleu, kinds) in weakest.iter().take(5) {
            let line = format!("  {id:<32} {chrf:>5.1} {bleu:>5.1}  {}", kinds.join(", "));
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }

    /// Two runs side by side: their corpus scores, and the articles where they differ most.
    pub(crate) fn compare(&self, other: &RunScores) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{:<24} {:>10} {:>10} {:>9}", "", "A", "B", "B - A");
        // Name, A, B, and the decimals they are shown with.
        let mut rows = vec![
            ("chrF++", self.corpus.chrf(), other.corpus.chrf(), 1),
            ("BLEU", self.corpus.bleu(), other.corpus.bleu(), 1),
            ("failed", self.failed.len() as f64, other.failed.len() as f64, 0),
            ("tokens in", self.tokens.0 as f64, other.tokens.0 as f64, 0),
            ("tokens out", self.tokens.1 as f64, other.tokens.1 as f64, 0),
        ];
        if let (Some(a), Some(b)) = (self.cost, other.cost) {
            rows.push(("cost USD", a, b, 4));
        }
        // Each warning kind, as the share of scored articles that have it.
        let kinds: std::collections::BTreeSet<&String> =
            self.warnings.keys().chain(other.warnings.keys()).collect();
        let share = |run: &RunScores, kind: &String| {
            100.0 * run.warnings.get(kind).copied().unwrap_or(0) as f64 / run.articles.len().max(1) as f64
        };
        let shares: Vec<(String, f64, f64)> =
            kinds.into_iter().map(|k| (format!("{k} %"), share(self, k), share(other, k))).collect();
        rows.extend(shares.iter().map(|(name, a, b)| (name.as_str(), *a, *b, 1)));
        if let (Some(a), Some(b)) = (self.took, other.took) {
            rows.push(("seconds", a.as_secs_f64(), b.as_secs_f64(), 1));
        }
        for (name, a, b, decimals) in rows {
            let _ = writeln!(out, "{name:<24} {a:>10.decimals$} {b:>10.decimals$} {:>+9.decimals$}", b - a);
        }
        let theirs: std::collections::HashMap<&str, f64> =
            other.articles.iter().map(|(id, chrf, _, _)| (id.as_str(), *chrf)).collect();
        let mut changed: Vec<(&str, f64, f64)> = self
            .articles
            .iter()
            .filter_map(|(id, chrf, _, _)| Some((id.as_str(), *chrf, *theirs.get(id.as_str())?)))
            .filter(|(_, a, b)| (a - b).abs() >= 0.05)
            .collect();
        changed.sort_by(|a, b| (b.2 - b.1).abs().total_cmp(&(a.2 - a.1).abs()));
        if !changed.is_empty() {
            let _ = writeln!(out, "articles that differ most (chrF++ A, B):");
        }
        for (id, a, b) in changed.iter().take(5) {
            let _ = writeln!(out, "  {id:<32} {a:>5.1} {b:>5.1} {:>+6.1}", b - a);
        }
        out
    }
}
