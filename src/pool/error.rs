//! How a call through the pool ends: its answer and what it cost, or why it failed (and
//! what the failure cost, since failed attempts are billed too).

use crate::client::ClientError;
use crate::limiter::LimitError;
use crate::record::Usage;

/// Why a call failed in the end.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    /// `usage` is what the failed call (and, once [`CallError::with_usage`] added them, the
    /// article's other calls) cost: failed attempts are billed too.
    #[error("{error} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Failed { error: ClientError, attempts: u32, usage: Usage },
    #[error("{0}")]
    TooLarge(LimitError),
    #[error("not sent: the run was stopped ({0})")]
    Stopped(String),
    /// The server refused the request's form and the run switched to the next one: the
    /// request is to be prepared again. Never leaves the pool (see [`Pool::complete`]).
    #[error("the endpoint refused the request's form; prepared again")]
    Reshaped,
    /// Written to a batch file instead of sent (`ko2en batch`): the article waits for the
    /// answer, in a later round.
    #[error("written to the batch file, to be answered in a later round")]
    Deferred,
}

impl CallError {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            CallError::Failed { error, .. } => error.kind(),
            CallError::TooLarge(_) => "too_large",
            CallError::Stopped(_) => "stopped",
            CallError::Reshaped => "reshaped",
            CallError::Deferred => "deferred",
        }
    }

    /// What was spent before the failure (nothing for a call never sent).
    pub(crate) fn usage(&self) -> Usage {
        match self {
            CallError::Failed { usage, .. } => *usage,
            _ => Usage::default(),
        }
    }

    /// The same failure, also carrying `spent` on the article's other calls, so that the
    /// record of a failed article still says what it cost.
    pub(crate) fn with_usage(self, spent: Usage) -> CallError {
        match self {
            CallError::Failed { error, attempts, mut usage } => {
                usage += spent;
                CallError::Failed { error, attempts, usage }
            }
            other => other,
        }
    }
}

/// A parsed answer and what it cost.
#[derive(Debug, Clone)]
pub(crate) struct Completion<T> {
    pub(crate) reply: T,
    pub(crate) usage: Usage,
}
