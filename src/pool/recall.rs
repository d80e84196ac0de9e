//! What earlier runs on the same cache taught about the endpoint and model, and what this run
//! keeps for the next: the request forms it takes, the sizes of its answers (for completion
//! budgets) and the limits each route announced (for the concurrency to start with).

use std::num::NonZeroU32;

use super::Pool;
use crate::client::ResponseFormat;
use crate::client::provider::BudgetField;
use crate::limiter::Budget;
use crate::sizing::AnswerKind;

impl Pool {
    /// Start sizing budgets from the answers an earlier run got from this model.
    pub(crate) async fn recall_sizes(&self) {
        let Some(cache) = &self.cache else { return };
        for (kind, input_tokens, completion_tokens) in cache.sizes(self.client().model()).await {
            if let Some(kind) = AnswerKind::parse(&kind) {
                self.sizing.observe(kind, input_tokens, completion_tokens);
            }
        }
    }

    /// Start from the forms an earlier run found this endpoint takes for this model.
    pub(crate) async fn recall_forms(&self) {
        let Some(cache) = &self.cache else { return };
        if let Some((format, field)) = cache.forms(&self.endpoint_id, self.client().model()).await
            && let (Some(format), Some(field)) = (ResponseFormat::parse(&format), BudgetField::parse(&field))
        {
            // The routes share their forms: assumed once for all.
            self.client().assume(format, field);
        }
    }

    /// Keep the forms the endpoint was found to take, so that the next run starts with them.
    pub(super) async fn remember_forms(&self) {
        if let Some(cache) = &self.cache {
            let (format, field) = self.client().forms();
            cache.store_forms(&self.endpoint_id, self.client().model(), format.name(), field.name()).await;
        }
    }

    /// Start with the concurrency the limits this endpoint announced in an earlier run need, as
    /// a run told them would: a run told nothing otherwise spends its first trip through a slow
    /// server with 16 in flight only to learn them. They are not paced by: the server's headers
    /// are, from its first answers on (its limits may have changed since).
    pub(crate) async fn recall_limits(&self) {
        let Some(cache) = &self.cache else { return };
        if self.pinned || self.told {
            return;
        }
        for lane in &self.lanes {
            if let Some((rpm, tpm)) = cache.limits(&lane.id, self.client().model()).await {
                let budget =
                    Budget { rpm: rpm.and_then(NonZeroU32::new), tpm: tpm.and_then(NonZeroU32::new) };
                if budget != Budget::default() {
                    self.grow_into(lane, budget, "for the limits the server announced in an earlier run");
                }
            }
        }
    }

    /// Keep the limits each route's server announced in this run, for the next (see
    /// `recall_limits`).
    pub(crate) async fn remember_limits(&self) {
        let Some(cache) = &self.cache else { return };
        if self.told {
            return;
        }
        for lane in &self.lanes {
            let budget = lane.limiter.budget();
            if budget != Budget::default() {
                let (rpm, tpm) = (budget.rpm.map(NonZeroU32::get), budget.tpm.map(NonZeroU32::get));
                cache.store_limits(&lane.id, self.client().model(), rpm, tpm).await;
            }
        }
    }
}
