//! ko2en turns Korean news articles into English through any OpenAI-compatible endpoint: a
//! bilingual summary of every article in a batch, and full translations of single articles.
//!
//! The map of the house, in the order data flows:
//! - [`cli`] parses the command line; [`config`] resolves it, with the environment, the config
//!   file's profile and the provider's preset, once into each part's own settings (the parts
//!   never import it: `tests/architecture.rs` checks that no module imports one that imports
//!   it back).
//! - `input` reads articles (files, directories, JSONL, stdin) on a thread, in order, and
//!   prepares each for the model (cleaning, headline).
//! - `pipeline` turns one article into one `record::Record`: summarize, translate;
//!   [`chunk`] splits long articles by token count at Korean sentence boundaries.
//! - `prompt` renders the templates of `prompts/`; `record` defines the record and the
//!   replies' schemas.
//! - `pool` schedules every LLM call: cache, slot (on the route with room, when a run has
//!   several URLs or keys), budget, spending cap, send, settle, decide; or, in a dry run,
//!   imagines the answers, or, in a batch round, writes the requests to a batch file;
//!   `sizing` sizes each call's completion budget from the answers seen; `price` knows what
//!   tokens cost.
//! - [`client`] owns the wire: the JSON of a request and the providers' rules (the presets of
//!   `client::provider`, as data), every response header in every rate-limit dialect, the
//!   errors, whether and when to retry (`client::retry`), and the files and batches
//!   endpoints of batch APIs.
//! - `limiter` keeps requests within the RPM/TPM budgets the server allows.
//! - `cache` keeps every answer bought, and every finished record, in SQLite.
//! - `output` writes records through one exporter per format (JSONL, Markdown) without
//!   blocking the runtime; `progress` reports on stderr.
//! - [`mock`] is the built-in OpenAI-compatible server, with the rate limits and faults of real
//!   endpoints on demand.
//! - [`check`] inspects every answer (Hangul left over, figures, glossary terms); `glossary`
//!   holds the user's Korean → English terms.
//! - `verify` applies the checks to each answer: one repair retry, then warnings (or a
//!   failure under `--strict`); `terms` keeps a name rendered one way across an article's
//!   chunks; `dedupe` sends an article repeated in a batch only once.
//! - [`eval`] scores a translation run against references (chrF++, BLEU as sacreBLEU defines
//!   them), for `ko2en eval` and the HTML report; `numbers` writes counts as people read them.
//! - [`app`] wires a command together; `shutdown` is the one path by which a run ends early
//!   (signals, a closed stdout); `logging` lets only ko2en's own lines onto stderr, and
//!   `redact` keeps the API keys out of everything.
//!
//! Only what the binary, the integration tests and the benchmarks use is public.

pub mod app;
mod cache;
pub mod check;
pub mod chunk;
pub mod cli;
pub mod client;
pub mod config;
mod dedupe;
pub mod eval;
mod glossary;
mod input;
mod limiter;
mod logging;
pub mod mock;
mod numbers;
mod output;
mod pipeline;
mod pool;
mod price;
mod progress;
mod prompt;
mod record;
mod redact;
mod shutdown;
mod sizing;
mod terms;
mod verify;
